"""The jobs API: POST/GET /api/v1/jobs, GET/DELETE /api/v1/jobs/{id}, cancel, exports, files."""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import ErrorOutput, _Output
from accounts.files import (
    STORAGE_ERRORS,
    BlockStreamingResponse,
    stored_file_response,
    stored_range,
)
from accounts.models import User
from accounts.selectors import owner_of
from analysis.ml.loaders import DETECTORS, ENHANCERS
from analysis.ml.tta import MAX_PASSES
from archive import exports, jobs
from archive.job_kinds import FPS_CHOICES, job_create
from archive.models import Job
from archive.services import jobs_delete

JOB_ID = OpenApiParameter("job_id", int, OpenApiParameter.PATH)
FORMAT = OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=["csv", "json"])
VIDEO_TYPES = {"webm": "video/webm", "mkv": "video/x-matroska", "mov": "video/quicktime"}
NOT_FOUND: dict[Any, Any] = {401: ErrorOutput, 404: ErrorOutput}


def job_of(owner: User, job_id: int, *, with_result: bool = False) -> Job:
    """One of ``owner``'s jobs; anyone else's answers 404. The result (megabytes for a long
    video) is read only when asked for."""
    rows = Job.objects.all() if with_result else Job.objects.defer("result")
    return get_object_or_404(rows, owner=owner, pk=job_id)


class JobOutput(_Output):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Job.Kind.choices)
    name = serializers.CharField()
    state = serializers.ChoiceField(choices=Job.State.choices)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    message = serializers.CharField()
    options = serializers.DictField()
    created = serializers.DateTimeField()
    started = serializers.DateTimeField(allow_null=True)
    finished = serializers.DateTimeField(allow_null=True)
    duration = serializers.FloatField(
        allow_null=True, source="duration_seconds", help_text="seconds it ran"
    )
    error = serializers.CharField(help_text="why it failed, empty otherwise")
    collection = serializers.IntegerField(
        allow_null=True, source="collection_id", help_text="batch: the photos' collection"
    )
    analysis_id = serializers.IntegerField(
        allow_null=True, help_text="enhance with save=true: the saved analysis"
    )
    files = serializers.SerializerMethodField(help_text="links to the files the job made")
    result = serializers.JSONField(
        allow_null=True,
        help_text="once done. video: {duration, fps, frames: [{t, faces: [{track, box, "
        "emotions, dominant_emotion}]}], tracks: [{track, first, last, dominant_emotion, "
        "emotions}]}; batch: the summary; enhance: the analysis, as POST /api/v1/analyze",
    )

    def get_files(self, job: Job) -> dict[str, str]:
        return {name: f"/api/v1/jobs/{job.pk}/files/{name}" for name in job.files}


class JobBrief(JobOutput):
    """A job in a list: without its result, which can be large."""

    result = None  # type: ignore[assignment]


class JobPage(_Output):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = JobBrief(many=True)


class JobListApi(APIView):
    """The caller's jobs, newest first; and submitting one (answers 202 at once: follow it on
    GET /api/v1/jobs/{id} or the websocket /ws/jobs/)."""

    parser_classes = (MultiPartParser, FormParser)

    def get_throttles(self) -> list[Any]:
        self.throttle_scope = "jobs" if self.request.method == "POST" else ""
        return super().get_throttles()

    @extend_schema_serializer(component_name="JobInput")
    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        kind = serializers.ChoiceField(choices=Job.Kind.choices)
        file = serializers.FileField(
            required=False, help_text="video: MP4, WebM or MOV; batch: a ZIP; enhance: an image"
        )
        files = serializers.ListField(
            child=serializers.FileField(),
            required=False,
            help_text="batch: the photos themselves, instead of a ZIP",
        )
        name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        detector = serializers.ChoiceField(choices=DETECTORS, default="auto")
        tta = serializers.IntegerField(
            min_value=1,
            max_value=MAX_PASSES,
            required=False,
            help_text="default 4 for video, else 10",
        )
        fps = serializers.ChoiceField(choices=FPS_CHOICES, default=5, help_text="video only")
        enhance = serializers.ChoiceField(
            choices=[name for name in ENHANCERS if name != "none"],
            default="realesrgan",
            help_text="enhance only",
        )
        save = serializers.BooleanField(  # type: ignore[assignment]
            default=False, help_text="enhance: also save the result to the archive"
        )

    @extend_schema(
        operation_id="jobs_list",
        parameters=[OpenApiParameter("page", int)],
        responses={200: JobPage, 400: ErrorOutput, 401: ErrorOutput, 404: ErrorOutput},
    )
    def get(self, request: Request) -> Response:
        jobs.jobs_sweep()
        paginator = PageNumberPagination()
        rows = Job.objects.filter(owner=owner_of(request)).defer("result")
        page = paginator.paginate_queryset(rows, request, self)
        return paginator.get_paginated_response(JobBrief(page, many=True).data)

    @extend_schema(
        operation_id="jobs_create",
        request={"multipart/form-data": InputSerializer},
        responses={
            202: JobOutput,
            400: ErrorOutput,
            401: ErrorOutput,
            413: ErrorOutput,
            429: ErrorOutput,
            503: ErrorOutput,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        files = list(data.get("files") or [])
        if data.get("file") is not None:
            files.insert(0, data["file"])
        kind = data["kind"]
        options: dict[str, Any] = {
            "detector": data["detector"],
            "tta": data.get("tta") or (4 if kind == Job.Kind.VIDEO else 10),
        }
        if kind == Job.Kind.VIDEO:
            options["fps"] = int(data["fps"])
        if kind == Job.Kind.ENHANCE:
            options["enhance"] = data["enhance"]
            options["save"] = data["save"]
        job = job_create(
            owner=owner_of(request),
            kind=kind,
            files=files,
            options=options,
            name=data.get("name", ""),
        )
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class JobDetailApi(APIView):
    """One job: its state and progress, and its result once done. DELETE removes a finished
    job with its files (a batch's photos stay in the archive)."""

    @extend_schema(parameters=[JOB_ID], responses={200: JobOutput, **NOT_FOUND})
    def get(self, request: Request, job_id: int) -> Response:
        # What the pages poll: a job whose worker died is marked failed here too, so that it
        # never shows as running for ever (the byte ranges of a video do not sweep).
        jobs.jobs_sweep()
        return Response(JobOutput(job_of(owner_of(request), job_id, with_result=True)).data)

    @extend_schema(parameters=[JOB_ID], responses={204: None, 400: ErrorOutput, **NOT_FOUND})
    def delete(self, request: Request, job_id: int) -> Response:
        job = job_of(owner_of(request), job_id)
        if not job.finished_state:
            raise serializers.ValidationError("Cancel the job before deleting it.")
        jobs_delete(jobs=[job])
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobCancelApi(APIView):
    """Cancel a queued or running job: it stops within a second or two, and nothing it made
    part way is kept. A finished job is answered as it is."""

    @extend_schema(request=None, parameters=[JOB_ID], responses={200: JobOutput, **NOT_FOUND})
    def post(self, request: Request, job_id: int) -> Response:
        job = jobs.job_cancel(job_of(owner_of(request), job_id, with_result=True))
        return Response(JobOutput(job).data)


class JobExportApi(APIView):
    """A finished job's result as a file: csv (video: one row per frame and face; batch:
    one row per face of the collection) or json."""

    throttle_scope = "export"

    @extend_schema(
        parameters=[
            JOB_ID,
            OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=["csv", "json"]),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
            (400, "application/json"): ErrorOutput,
            (401, "application/json"): ErrorOutput,
            (404, "application/json"): ErrorOutput,
            (429, "application/json"): ErrorOutput,
        },
    )
    def get(self, request: Request, job_id: int, fmt: str) -> HttpResponse:
        if fmt not in ("csv", "json"):
            raise NotFound("Exports are csv or json.")
        job = job_of(owner_of(request), job_id, with_result=True)
        if job.state != Job.State.DONE or job.result is None:
            raise serializers.ValidationError("The job has no result yet.")
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", job.name)[:60].strip("-.") or f"job-{job.pk}"
        if fmt == "json":
            body = json.dumps(job.result, ensure_ascii=False, indent=1).encode("utf-8")
            content_type = "application/json"
        elif job.kind == Job.Kind.VIDEO:
            body, content_type = exports.export_video_csv(job.result), "text/csv; charset=utf-8"
        elif job.kind == Job.Kind.BATCH and job.collection is not None:
            analyses = job.collection.analyses.filter(pending=False).prefetch_related("faces")
            body, content_type = exports.export_csv(analyses), "text/csv; charset=utf-8"
        else:
            raise serializers.ValidationError("This job has no CSV export; ask for json.")
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
        return response


_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")


def file_response(
    request: HttpRequest, job: Job, name: str
) -> HttpResponse | StreamingHttpResponse:
    """A file a job made, to its owner only; byte ranges are honoured, so that a browser can
    seek in a video."""
    path = job.files.get(name)
    if not path:
        raise NotFound("The job has no such file.")
    storage = job.input.storage
    try:
        size = storage.size(path)
    except STORAGE_ERRORS as exc:
        raise NotFound("The job's file is no longer stored.") from exc
    content_type = "image/jpeg"
    if name == "video":
        content_type = VIDEO_TYPES.get(path.rsplit(".", 1)[-1].lower(), "video/mp4")
    match = _RANGE.match(request.headers.get("Range", ""))
    if match and (match.group(1) or match.group(2)):
        first, last = match.group(1), match.group(2)
        start = int(first) if first else max(0, size - int(last))
        end = min(size - 1, int(last)) if first and last else size - 1
        if start >= size or start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        length = end - start + 1
        try:
            blocks = stored_range(storage, path, start, length)
        except STORAGE_ERRORS as exc:
            raise NotFound("The job's file is no longer stored.") from exc
        partial_content = BlockStreamingResponse(blocks, status=206, content_type=content_type)
        partial_content["Content-Range"] = f"bytes {start}-{end}/{size}"
        partial_content["Content-Length"] = str(length)
        partial_content["Accept-Ranges"] = "bytes"
        return partial_content
    whole = stored_file_response(storage, path, content_type=content_type, max_age=3600)
    whole["Accept-Ranges"] = "bytes"
    return whole


class JobFileApi(APIView):
    """A file a job made: ``video`` (the uploaded video, for playback), ``annotated``, and
    ``face<N>-before`` / ``face<N>-after`` for an enhancement."""

    @extend_schema(
        parameters=[JOB_ID, OpenApiParameter("name", str, OpenApiParameter.PATH)],
        responses={
            (200, "video/mp4"): OpenApiTypes.BINARY,
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (206, "video/mp4"): OpenApiTypes.BINARY,
            (401, "application/json"): ErrorOutput,
            (404, "application/json"): ErrorOutput,
            (416, "application/json"): ErrorOutput,
        },
    )
    def get(self, request: Request, job_id: int, name: str) -> HttpResponse | StreamingHttpResponse:
        return file_response(request, job_of(owner_of(request), job_id), name)
