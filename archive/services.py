"""Writing the archive: saving, renaming, deleting and purging analyses, with their files.

Rows and files change together: a save that fails part way leaves neither rows nor files, and
files are deleted only once the rows that point to them are gone for good.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable

import cv2
import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.models import User
from accounts.services import user_delete
from analysis.ml.annotate import annotate
from analysis.ml.images import encode_jpeg
from analysis.ml.types import EMOTIONS
from analysis.services import AnalysisRun, Signed
from archive.models import Collection, Face, Job, SavedAnalysis, UsageDay

logger = logging.getLogger(__name__)

THUMBNAIL_SIDE = 360
NAME_MAX_LENGTH = 200


def _file_paths(owner: User) -> str:
    # A random folder per analysis: paths cannot be guessed and never collide.
    return f"archive/{owner.pk}/{uuid.uuid4().hex}"


def _thumbnail(pixels: np.ndarray) -> bytes:
    height, width = pixels.shape[:2]
    scale = min(1.0, THUMBNAIL_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA) if scale < 1 else pixels
    return encode_jpeg(np.ascontiguousarray(small), quality=85)


def default_name(run: AnalysisRun) -> str:
    faces = len(run.result.faces)
    when = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    return f"{faces} face{'s' if faces != 1 else ''}, {when}"


def analysis_pictures(*, run: AnalysisRun) -> dict[str, bytes]:
    """The JPEG files kept with a saved analysis: the original, upright and re-encoded (which
    also drops its EXIF metadata, such as where the photo was taken), the annotated picture
    and its thumbnail. CPU work: keep it out of the database thread."""
    annotated = annotate(run.image.pixels, run.result.faces)
    return {
        "original": encode_jpeg(run.image.pixels, quality=92),
        "annotated": encode_jpeg(annotated),
        "thumbnail": _thumbnail(annotated),
    }


def analysis_save(
    *,
    owner: User,
    run: AnalysisRun,
    name: str = "",
    source: str = SavedAnalysis.Source.UPLOAD,
    keep_image: bool = True,
    pictures: dict[str, bytes] | None = None,
    collection: Collection | None = None,
    pending: bool = False,
    signatures: Signed | None = None,
) -> SavedAnalysis:
    """Save an analysis run to ``owner``'s archive, with its pictures unless ``keep_image`` is
    false (then only the scores are kept). All or nothing.

    ``pictures`` are the files :func:`analysis_pictures` made for the run; callers that share
    the database thread (the camera) make them beforehand, in a worker thread, so that the
    drawing and encoding never hold the database thread or a transaction. ``signatures`` are
    the faces' signatures (archive.people.signatures_for), kept with them.
    """
    if signatures is not None and len(signatures.faces) != len(run.result.faces):
        raise ValueError("One signature per face of the run is needed")
    # The files' storage is the one the model's fields read them back from.
    storage = SavedAnalysis._meta.get_field("original").storage
    result = run.result
    name = (name.strip() or default_name(run))[:NAME_MAX_LENGTH]
    totals = np.zeros(len(EMOTIONS))
    for face in result.faces:
        totals += [face.emotions.probabilities[e] for e in EMOTIONS]
    dominant = EMOTIONS[int(totals.argmax())] if result.faces else ""

    written: list[str] = []
    try:
        with transaction.atomic():
            record = SavedAnalysis(
                owner=owner,
                name=name,
                source=source,
                width=result.width,
                height=result.height,
                detector=result.detector,
                passes=result.passes,
                enhance=run.enhance,
                model_versions=dict(result.models),
                face_count=len(result.faces),
                dominant_emotion=dominant,
                collection=collection,
                pending=pending,
            )
            if keep_image:
                folder = _file_paths(owner)
                files = pictures if pictures is not None else analysis_pictures(run=run)
                record.bytes_stored = sum(len(data) for data in files.values())
                for field, data in files.items():
                    path = storage.save(f"{folder}/{field}.jpg", ContentFile(data))
                    written.append(path)
                    getattr(record, field).name = path
            record.save()
            Face.objects.bulk_create(
                [
                    Face(
                        analysis=record,
                        index=face.index,
                        x=face.face.box.x,
                        y=face.face.box.y,
                        w=face.face.box.w,
                        h=face.face.box.h,
                        dominant_emotion=face.emotions.dominant,
                        confidence=face.emotions.confidence,
                        spread=face.emotions.spread,
                        agreement=face.emotions.agreement,
                        verdict=face.quality.verdict,
                        reasons=list(face.quality.reasons),
                        score=face.face.score,
                        detector=face.face.detector,
                        found_by=face.face.how,
                        landmarks=face.face.landmarks.as_list() if face.face.landmarks else None,
                        signature=None
                        if signatures is None
                        else signatures.signatures[position].astype("float32").tobytes(),
                        signature_model="" if signatures is None else signatures.model,
                        quality={
                            "face_size": face.quality.face_size,
                            "sharpness": face.quality.sharpness,
                            "yaw": face.quality.yaw,
                            "roll": face.quality.roll,
                        },
                        **face.emotions.probabilities,
                    )
                    for position, face in enumerate(result.faces)
                ]
            )
    except BaseException:
        stored_files_delete(storage, written)
        raise
    return record


def analysis_rename(*, analysis: SavedAnalysis, name: str) -> SavedAnalysis:
    name = name.strip()
    if not name:
        raise ValueError("A name cannot be empty.")
    analysis.name = name[:NAME_MAX_LENGTH]
    analysis.save(update_fields=["name"])
    return analysis


def analyses_delete(*, analyses: QuerySet[SavedAnalysis] | Iterable[SavedAnalysis]) -> int:
    """Delete analyses, their faces and their files; returns how many were deleted."""
    items = list(analyses)
    paths = [
        (item.original.storage, str(field.name))
        for item in items
        for field in (item.original, item.annotated, item.thumbnail)
        if field
    ]
    with transaction.atomic():
        SavedAnalysis.objects.filter(pk__in=[item.pk for item in items]).delete()
        transaction.on_commit(lambda: _delete_stored(paths))
    return len(items)


def analyses_purge(*, older_than_days: int, now: dt.datetime | None = None) -> int:
    """Delete every analysis older than ``older_than_days`` days, files included."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=older_than_days)
    deleted = 0
    # In batches, so that a large archive never loads into memory at once.
    while True:
        batch = list(SavedAnalysis.objects.filter(created__lt=cutoff).order_by("pk")[:200])
        if not batch:
            return deleted
        deleted += analyses_delete(analyses=batch)


def jobs_delete(*, jobs: QuerySet[Job] | Iterable[Job]) -> int:
    """Delete finished jobs with their files (the upload and what the job made); the
    analyses a batch saved stay in the archive."""
    items = list(jobs)
    paths = []
    for job in items:
        storage = job.input.storage
        names = [str(job.input.name)] if job.input else []
        names += [str(name) for name in job.files.values()]
        paths += [(storage, name) for name in names if name]
    with transaction.atomic():
        Job.objects.filter(pk__in=[job.pk for job in items]).delete()
        transaction.on_commit(lambda: _delete_stored(paths))
    return len(items)


def jobs_purge(*, older_than_days: int, now: dt.datetime | None = None) -> int:
    """Delete every finished job older than ``older_than_days`` days, with its files."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=older_than_days)
    deleted = 0
    while True:
        batch = list(
            Job.objects.filter(created__lt=cutoff, state__in=Job.FINISHED_STATES).order_by("pk")[
                :200
            ]
        )
        if not batch:
            return deleted
        deleted += jobs_delete(jobs=batch)


def _delete_stored(paths: list[tuple[Storage, str]]) -> None:
    for storage, path in paths:
        stored_files_delete(storage, [path])


def stored_files_delete(storage: Storage, paths: list[str]) -> None:
    """Delete files from storage; one that cannot be deleted is logged, not raised."""
    for path in paths:
        try:
            storage.delete(path)
        except Exception:
            # The rows are already gone; a file left behind is logged for the admin.
            logger.exception("Could not delete %s from storage", path)


def account_delete(*, user: User) -> None:
    """Delete an account and everything that belongs to it: saved analyses with their
    pictures, then the account itself (avatar, devices, tokens). Files go once the rows are
    gone for good."""
    with transaction.atomic():
        analyses_delete(analyses=user.analyses.all())
        jobs_delete(jobs=user.jobs.all())
        user_delete(user=user)


def usage_record(*, owner: User, source: str, analyses: int = 1, faces: int = 0) -> None:
    """Count analyses (saved or not) for the usage page: one row per user, day and source,
    incremented in the database, so that parallel requests all count."""
    if analyses <= 0:
        return
    day = timezone.localdate()
    counts = {"analyses": F("analyses") + analyses, "faces": F("faces") + faces}
    rows = UsageDay.objects.filter(owner=owner, day=day, source=source)
    if rows.update(**counts):
        return
    try:
        with transaction.atomic():
            UsageDay.objects.create(
                owner=owner, day=day, source=source, analyses=analyses, faces=faces
            )
    except IntegrityError:
        # Another request created the row in between: add to it.
        rows.update(**counts)
