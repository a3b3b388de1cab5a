"""Reading the archive: every query is scoped to one owner."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Avg, Count, Max, Min, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth, TruncWeek
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import User
from analysis.ml.types import EMOTIONS
from archive.models import Face, SavedAnalysis, UsageDay


@dataclass(frozen=True)
class ArchiveFilter:
    query: str = ""
    emotion: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    collection: int | None = None


def analyses_of(owner: User, filters: ArchiveFilter | None = None) -> QuerySet[SavedAnalysis]:
    """``owner``'s analyses, newest first, narrowed by ``filters``."""
    analyses = SavedAnalysis.objects.filter(owner=owner, pending=False).order_by("-created", "-id")
    if filters is None:
        return analyses
    if filters.collection:
        analyses = analyses.filter(collection_id=filters.collection)
    if filters.query:
        analyses = analyses.filter(name__icontains=filters.query)
    if filters.emotion:
        analyses = analyses.filter(dominant_emotion=filters.emotion)
    if filters.date_from:
        analyses = analyses.filter(created__date__gte=filters.date_from)
    if filters.date_to:
        analyses = analyses.filter(created__date__lte=filters.date_to)
    return analyses


def analysis_of(owner: User, analysis_id: int) -> SavedAnalysis:
    """One of ``owner``'s analyses; anyone else's answers 404, as if it did not exist."""
    return get_object_or_404(
        SavedAnalysis.objects.prefetch_related("faces"), owner=owner, pk=analysis_id, pending=False
    )


MAX_SELECTION = 1000
_ID = re.compile(r"^[0-9]{1,18}$")


def parse_ids(values: Iterable[str]) -> list[int]:
    """Analysis ids from form or query values; anything that is not one is ignored."""
    ids = [int(value) for value in (v.strip() for v in values) if _ID.match(value)]
    return ids[:MAX_SELECTION]


def analyses_by_ids(owner: User, ids: list[int]) -> QuerySet[SavedAnalysis]:
    return analyses_of(owner).filter(pk__in=ids[:MAX_SELECTION])


@dataclass(frozen=True)
class ArchiveStats:
    analyses: int
    faces: int
    dominant_counts: dict[str, int]
    mean_scores: dict[str, float]
    timeline: list[tuple[dt.date, dict[str, int]]]
    period: str


def stats_of(owner: User) -> ArchiveStats:
    """How emotions are distributed over ``owner``'s archive, overall and over time."""
    faces = Face.objects.filter(analysis__owner=owner, analysis__pending=False)
    counts = {
        row["dominant_emotion"]: row["n"]
        for row in faces.values("dominant_emotion").annotate(n=Count("id"))
    }
    means = faces.aggregate(**{name: Avg(name) for name in EMOTIONS})
    span = analyses_of(owner).aggregate(first=Min("created"), last=Max("created"))
    days = (span["last"] - span["first"]).days if span["first"] else 0
    period, trunc = (
        ("day", TruncDate)
        if days <= 31
        else ("week", TruncWeek)
        if days <= 366
        else ("month", TruncMonth)
    )
    rows = (
        faces.annotate(bucket=trunc("analysis__created"))
        .values("bucket", "dominant_emotion")
        .annotate(n=Count("id"))
        .order_by("bucket")
    )
    timeline: dict[dt.date, dict[str, int]] = {}
    for row in rows:
        bucket = row["bucket"]
        day = bucket.date() if isinstance(bucket, dt.datetime) else bucket
        timeline.setdefault(day, dict.fromkeys(EMOTIONS, 0))[row["dominant_emotion"]] = row["n"]
    return ArchiveStats(
        analyses=analyses_of(owner).count(),
        faces=sum(counts.values()),
        dominant_counts={name: counts.get(name, 0) for name in EMOTIONS},
        mean_scores={name: round(means[name] or 0.0, 4) for name in EMOTIONS},
        timeline=sorted(timeline.items()),
        period=period,
    )


@dataclass(frozen=True)
class Usage:
    date_from: dt.date
    date_to: dt.date
    # One entry per day of the range: the day and its analyses and faces per source.
    days: list[tuple[dt.date, dict[str, tuple[int, int]]]]
    analyses: int
    faces: int
    saved_analyses: int
    bytes_stored: int


USAGE_MAX_DAYS = 366
# Far enough apart for any real use, and far from the calendar's ends (date arithmetic near
# year 1 or 9999 overflows).
USAGE_EARLIEST = dt.date(2000, 1, 1)
USAGE_LATEST = dt.date(9000, 1, 1)


def usage_of(owner: User, *, date_from: dt.date, date_to: dt.date) -> Usage:
    """The user's analyses and faces per day and source from ``date_from`` to ``date_to``
    (both included), and what their archive stores now."""
    sources = [value for value, _ in SavedAnalysis.Source.choices]
    per_day: dict[dt.date, dict[str, tuple[int, int]]] = {}
    for row in UsageDay.objects.filter(owner=owner, day__range=(date_from, date_to)):
        per_day.setdefault(row.day, {})[row.source] = (row.analyses, row.faces)
    days = []
    day = date_from
    while day <= date_to:
        counts = per_day.get(day, {})
        days.append((day, {source: counts.get(source, (0, 0)) for source in sources}))
        day += dt.timedelta(days=1)
    stored = SavedAnalysis.objects.filter(owner=owner, pending=False).aggregate(
        count=Count("id"), size=Sum("bytes_stored")
    )
    return Usage(
        date_from=date_from,
        date_to=date_to,
        days=days,
        analyses=sum(a for _, counts in days for a, _ in counts.values()),
        faces=sum(f for _, counts in days for _, f in counts.values()),
        saved_analyses=int(stored["count"] or 0),
        bytes_stored=int(stored["size"] or 0),
    )


def usage_bounds(date_from: dt.date | None, date_to: dt.date | None) -> dict[str, dt.date]:
    """The range asked for, with defaults (the 30 days up to today); ValueError if unusable."""
    for day in (date_from, date_to):
        if day is not None and not USAGE_EARLIEST <= day <= USAGE_LATEST:
            raise ValueError(
                f"Dates lie between {USAGE_EARLIEST.isoformat()} and {USAGE_LATEST.isoformat()}."
            )
    end = date_to or timezone.localdate()
    start = date_from or end - dt.timedelta(days=29)
    if start > end:
        raise ValueError("The start must not be after the end.")
    if (end - start).days >= USAGE_MAX_DAYS:
        raise ValueError(f"A range is at most {USAGE_MAX_DAYS} days.")
    return {"date_from": start, "date_to": end}
