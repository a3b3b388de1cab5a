"""Archive pages: browse, search, view, rename, delete, export, statistics, and the images."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from rest_framework.exceptions import NotFound

from accounts.api.throttling import allowance
from accounts.files import BlockFileResponse, private_file_response
from accounts.forms import PasswordConfirmForm
from accounts.selectors import owner_of
from analysis.ml.loaders import ENHANCERS
from analysis.ml.types import EMOTIONS
from archive import exports, jobs, selectors, services
from archive.api.jobs import file_response, job_of
from archive.api.serializers import SavedAnalysisOutput
from archive.forms import FilterForm, RenameForm, UsageForm
from archive.job_kinds import FPS_CHOICES
from archive.models import Job, Person, SavedAnalysis
from archive.people import people_of

PAGE_SIZE = 24
IMAGE_KINDS = ("original", "annotated", "thumbnail")
EXPORT_FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "zip": ("application/zip", "zip"),
}


@login_required
def archive_page(request: HttpRequest) -> HttpResponse:
    form = FilterForm(request.GET or None)
    analyses = selectors.analyses_of(owner_of(request), form.filters())
    page = Paginator(analyses, PAGE_SIZE).get_page(request.GET.get("page"))
    query = {k: v for k, v in request.GET.items() if k != "page" and v}
    return render(
        request,
        "archive/list.html",
        {
            "form": form,
            "page": page,
            "query": urlencode(query),
            "filtered": bool(query),
            "total": analyses.count(),
        },
    )


@login_required
def analysis_detail(request: HttpRequest, analysis_id: int) -> HttpResponse:
    owner = owner_of(request)
    analysis = selectors.analysis_of(owner, analysis_id)
    form = RenameForm(initial={"name": analysis.name})
    if request.method == "POST":
        form = RenameForm(request.POST)
        if form.is_valid():
            services.analysis_rename(analysis=analysis, name=form.cleaned_data["name"])
            messages.success(request, "Renamed.")
            return redirect("archive:detail", analysis_id=analysis.pk)
    # The same JSON as the API's, drawn by the same script as the analysis page's results.
    faces = SavedAnalysisOutput(analysis).data["faces"]
    # With identity features on, a face of the analysis can be enrolled as one of the people.
    real = any(face["found_by"] != "whole_image" for face in faces)
    enrol_to = list(people_of(owner)) if owner.identity_enabled and real else []
    return render(
        request,
        "archive/detail.html",
        {"analysis": analysis, "form": form, "faces": faces, "enrol_to": enrol_to},
    )


@login_required
def analysis_delete(request: HttpRequest, analysis_id: int) -> HttpResponse:
    analysis = selectors.analysis_of(owner_of(request), analysis_id)
    if request.method == "POST":
        services.analyses_delete(analyses=[analysis])
        messages.success(request, f"“{analysis.name}” was deleted.")
        return redirect("archive:list")
    return render(request, "archive/delete.html", {"analyses": [analysis]})


@login_required
@require_POST
def bulk_action(request: HttpRequest) -> HttpResponse | FileResponse:
    """Delete or export the analyses ticked on the list page."""
    owner = owner_of(request)
    analyses = selectors.analyses_by_ids(owner, selectors.parse_ids(request.POST.getlist("ids")))
    action = request.POST.get("action", "")
    if not analyses.exists():
        messages.warning(request, "Tick at least one analysis first.")
        return redirect("archive:list")
    if action == "delete":
        return render(request, "archive/delete.html", {"analyses": analyses})
    if action == "delete-confirmed":
        count = services.analyses_delete(analyses=analyses)
        messages.success(request, f"{count} analys{'es were' if count != 1 else 'is was'} deleted.")
        return redirect("archive:list")
    if action.startswith("export-"):
        return export_response(analyses, action.removeprefix("export-"))
    raise Http404("Unknown action")


@login_required
def export_all(request: HttpRequest, fmt: str) -> HttpResponse | FileResponse:
    """Everything that matches the list page's filters (everything when there are none)."""
    filters = FilterForm(request.GET or None).filters()
    owner = owner_of(request)
    return export_response(
        selectors.analyses_of(owner, filters),
        fmt,
        people=people_of(owner).prefetch_related("signatures"),
    )


def export_response(
    analyses: Any, fmt: str, people: Iterable[Person] | None = None
) -> HttpResponse | FileResponse:
    """The export of ``analyses`` in ``fmt``; a ZIP also holds ``people`` when given."""
    if fmt not in EXPORT_FORMATS:
        raise Http404("Unknown export format")
    content_type, extension = EXPORT_FORMATS[fmt]
    analyses = analyses.prefetch_related("faces")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    filename = f"emotion-archive-{stamp}.{extension}"
    if fmt == "zip":
        return BlockFileResponse(
            exports.export_zip(analyses, people),
            as_attachment=True,
            filename=filename,
            content_type=content_type,
        )
    body = exports.export_csv(analyses) if fmt == "csv" else exports.export_json(analyses)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def analysis_image(request: HttpRequest, analysis_id: int, kind: str) -> FileResponse:
    """An analysis's picture, only for its owner: the files have no public URL."""
    if kind not in IMAGE_KINDS:
        raise Http404("Unknown image")
    analysis = selectors.analysis_of(owner_of(request), analysis_id)
    return image_response(analysis, kind)


def image_response(analysis: SavedAnalysis, kind: str) -> FileResponse:
    return private_file_response(getattr(analysis, kind), content_type="image/jpeg", max_age=86400)


@login_required
def stats_page(request: HttpRequest) -> HttpResponse:
    stats = selectors.stats_of(owner_of(request))
    peak = _peak(stats.dominant_counts.values())
    timeline_peak = _peak(sum(c.values()) for _, c in stats.timeline)
    return render(
        request,
        "archive/stats.html",
        {
            "stats": stats,
            "emotions": EMOTIONS,
            "distribution": [
                (e, stats.dominant_counts[e], stats.dominant_counts[e] / peak) for e in EMOTIONS
            ],
            "means": [(e, stats.mean_scores[e]) for e in EMOTIONS],
            # The value axis: the tallest column, and half of it.
            "timeline_peak": timeline_peak,
            "timeline_half": _half(timeline_peak),
            "timeline": [
                (
                    day,
                    [(e, counts[e], counts[e] / timeline_peak) for e in EMOTIONS],
                    sum(counts.values()),
                )
                for day, counts in stats.timeline
            ],
        },
    )


@login_required
def account_delete_page(request: HttpRequest) -> HttpResponse:
    """Delete the account, with every saved analysis, after the password is typed again."""
    user = owner_of(request)
    form = PasswordConfirmForm(user=user)
    if request.method == "POST":
        form = PasswordConfirmForm(request.POST, user=user)
        if form.is_valid():
            logout(request)
            services.account_delete(user=user)
            messages.success(request, "Your account and all its data were deleted.")
            return redirect("home")
    return render(request, "accounts/delete.html", {"form": form})


@login_required
def usage_page(request: HttpRequest) -> HttpResponse:
    """Analyses and faces per day and source over a chosen range, and the storage used."""
    form = UsageForm(request.GET or None)
    chosen = form.cleaned_data if form.is_valid() else {}
    try:
        bounds = selectors.usage_bounds(chosen.get("date_from"), chosen.get("date_to"))
    except ValueError as exc:
        form.add_error(None, str(exc))
        bounds = selectors.usage_bounds(None, None)
    usage = selectors.usage_of(owner_of(request), **bounds)
    peak = _peak(sum(a for a, _ in counts.values()) for _, counts in usage.days)
    sources = [(value, label) for value, label in SavedAnalysis.Source.choices]
    return render(
        request,
        "archive/usage.html",
        {
            "allowance": allowance(owner_of(request).pk),
            "form": form,
            "usage": usage,
            "sources": sources,
            "peak": peak,
            "half": _half(peak),
            "days": [
                (
                    day,
                    [(value, counts[value][0], counts[value][0] / peak) for value, _ in sources],
                    sum(a for a, _ in counts.values()),
                )
                for day, counts in usage.days
            ],
        },
    )


def _peak(totals: Iterable[int]) -> int:
    """The tallest column of a chart (1 for an empty one, so that shares stay defined)."""
    return max(totals, default=0) or 1


def _half(peak: int) -> str:
    """The value axis's middle label."""
    return f"{peak / 2:g}"


@login_required
def jobs_page(request: HttpRequest) -> HttpResponse:
    """Submit a video, a batch of photos or an enhancement; the user's jobs with progress."""
    jobs.jobs_sweep()
    return render(
        request,
        "archive/jobs.html",
        {
            "jobs": Job.objects.filter(owner=owner_of(request)).defer("result")[:50],
            "fps_choices": FPS_CHOICES,
            "enhancers": [name for name in ENHANCERS if name != "none"],
            "max_mb": settings.JOB_UPLOAD_MAX_BYTES // 1_048_576,
            "max_seconds": settings.VIDEO_MAX_SECONDS,
            "max_photos": settings.BATCH_MAX_FILES,
        },
    )


@login_required
def job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    """One job: its progress live (websocket, polling as fallback), a cancel button, and its
    result once done: the video with its boxes and each track's timeline, the batch's summary,
    or the faces before and after enhancement."""
    jobs.jobs_sweep()
    job = job_of(owner_of(request), job_id)
    return render(request, "archive/job.html", {"job": job})


@login_required
def job_file(request: HttpRequest, job_id: int, name: str) -> HttpResponse | StreamingHttpResponse:
    try:
        return file_response(request, job_of(owner_of(request), job_id), name)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
