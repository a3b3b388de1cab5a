"""GET /api/v1/analyses, GET/PATCH/DELETE /api/v1/analyses/{id}, the export and the images."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import ErrorOutput, _Output
from accounts.api.throttling import allowance
from accounts.selectors import owner_of
from analysis import services as analysis_services
from analysis.api.serializers import AnalysisOutput, FaceOutput
from analysis.api.views import (
    IMAGE_ERRORS,
    BoxesField,
    FaceIndexesField,
    ImageInput,
    LivenessSignalOutput,
)
from analysis.ml.tta import MAX_PASSES
from analysis.ml.types import EMOTIONS
from archive import people, selectors, services
from archive.api.serializers import (
    RecognisedPersonOutput,
    ResultInput,
    SavedAnalysesExport,
    SavedAnalysisWithLinksOutput,
    result_from_input,
)
from archive.models import SavedAnalysis
from archive.views import EXPORT_FORMATS, IMAGE_KINDS, export_response, image_response


def _source(request: Request) -> str:
    # A token is an API client; a browser session is the analysis page.
    return SavedAnalysis.Source.API if request.auth else SavedAnalysis.Source.UPLOAD


def _render(request: Request, analysis: SavedAnalysis) -> Any:
    return SavedAnalysisWithLinksOutput(analysis, context={"request": request}).data


class SavedAnalysisPage(_Output):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SavedAnalysisWithLinksOutput(many=True)


ANALYSIS_ID = OpenApiParameter("analysis_id", int, OpenApiParameter.PATH)
NOT_FOUND: dict[Any, Any] = {401: ErrorOutput, 404: ErrorOutput}


class AnalyzedFaceOutput(FaceOutput):
    """A face of the analyze answer: with identity features on, also who it is and the
    liveness signal (absent otherwise)."""

    person = RecognisedPersonOutput(
        required=False,
        allow_null=True,
        help_text="the closest enrolled person when similar enough, else null",
    )
    person_similarity = serializers.FloatField(
        required=False, allow_null=True, help_text="to that person (null: nobody enrolled)"
    )
    liveness = LivenessSignalOutput(
        required=False,
        allow_null=True,
        help_text="a weak signal, never proof (README, Liveness); null when not scored",
    )


class AnalyzeOutput(AnalysisOutput):
    """The analyze answer as documented (the same body as AnalysisOutput renders, plus the
    fields that identity features add to each face)."""

    faces = AnalyzedFaceOutput(many=True, source="result.faces")


class AnalyzeApi(APIView):
    """Find every face of an image and score the 7 emotions, averaged over TTA passes; with
    save=true, also save the result to the archive."""

    parser_classes = (MultiPartParser, FormParser)
    throttle_scope = "analyze"

    @extend_schema_serializer(component_name="AnalyzeInput")
    class InputSerializer(ImageInput):
        tta = serializers.IntegerField(min_value=1, max_value=MAX_PASSES, default=10)
        enhance = serializers.ChoiceField(choices=analysis_services.ENHANCERS, default="none")
        save = serializers.BooleanField(default=False)  # type: ignore[assignment]
        name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        keep_image = serializers.BooleanField(default=True)
        faces = FaceIndexesField(required=False)
        boxes = BoxesField(
            required=False,
            help_text='faces the detector missed, marked by hand: "x,y,w,h;x,y,w,h"',
        )
        annotate = serializers.BooleanField(default=False)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={200: AnalyzeOutput, 429: ErrorOutput, **IMAGE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        run = analysis_services.analysis_run(
            data=analysis_services.upload_read(data["image"]),
            detector=data["detector"],
            passes=data["tta"],
            enhance=data["enhance"],
            select=data.get("faces"),
            annotated=data["annotate"],
            extra_boxes=data.get("boxes", []),
        )
        source = _source(request)
        owner = owner_of(request)
        services.usage_record(owner=owner, source=source, faces=len(run.result.faces))
        body = dict(AnalysisOutput(run).data)
        if data["annotate"]:
            body["annotated_image"] = run.annotated_data_url
        # With identity features on, each face is also named (or not) among the user's people.
        signed = people.signatures_for(owner=owner, run=run)
        if signed is not None:
            for face, named in zip(
                body["faces"], people.faces_named(owner=owner, signed=signed), strict=True
            ):
                face.update(people.person_fields(named.person, named.similarity))
        # ...and given the liveness signal (analysis.ml.liveness), never proof.
        if owner.identity_enabled and run.result.faces:
            reading = analysis_services.liveness_of(
                run.image, [face.face for face in run.result.faces]
            )
            if reading is not None:
                for face, signal in zip(body["faces"], reading.signals(), strict=True):
                    face["liveness"] = signal
        if data["save"]:
            saved = services.analysis_save(
                owner=owner,
                run=run,
                name=data.get("name", ""),
                source=source,
                keep_image=data["keep_image"],
                signatures=signed,
            )
            body["analysis_id"] = saved.pk
            body["name"] = saved.name
        return Response(body)


class AnalysisListApi(APIView):
    """The caller's saved analyses, newest first, paginated and filterable; and saving one."""

    parser_classes = (MultiPartParser, FormParser, JSONParser)

    @extend_schema_serializer(component_name="AnalysisFilter")
    class FilterSerializer(serializers.Serializer):  # type: ignore[type-arg]
        q = serializers.CharField(required=False, allow_blank=True)
        # Empty means any emotion, as on the archive page; the schema says so (its enum has "").
        emotion = serializers.ChoiceField(choices=EMOTIONS, required=False, allow_blank=True)
        date_from = serializers.DateField(required=False)
        date_to = serializers.DateField(required=False)

    @extend_schema(
        operation_id="analyses_list",
        parameters=[FilterSerializer],
        responses={200: SavedAnalysisPage, 400: ErrorOutput, 401: ErrorOutput},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        analyses = selectors.analyses_of(
            owner_of(request),
            selectors.ArchiveFilter(
                query=data.get("q", "").strip(),
                emotion=data.get("emotion", ""),
                date_from=data.get("date_from"),
                date_to=data.get("date_to"),
            ),
        ).prefetch_related("faces")
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(analyses, request, view=self) or []
        return paginator.get_paginated_response([_render(request, a) for a in page])

    @extend_schema_serializer(component_name="SaveResultInput")
    class SaveSerializer(serializers.Serializer):  # type: ignore[type-arg]
        image = serializers.FileField(allow_empty_file=True)
        result = serializers.JSONField(
            help_text="the answer of POST /api/v1/analyze for this image, as shown"
        )
        name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        keep_image = serializers.BooleanField(default=True)

    @extend_schema(
        operation_id="analyses_create",
        request={"multipart/form-data": SaveSerializer},
        responses={201: SavedAnalysisWithLinksOutput, **IMAGE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        """Save a result that was already computed (what the page shows) with its picture,
        without analysing it again."""
        serializer = self.SaveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not isinstance(data["result"], dict):
            raise serializers.ValidationError({"result": ["Send the analyze answer's object."]})
        result_input = ResultInput(data=data["result"])
        if not result_input.is_valid():
            raise serializers.ValidationError({"result": result_input.errors})
        image = analysis_services.image_decode(data=analysis_services.upload_read(data["image"]))
        result = result_from_input(result_input.validated_data)
        if (result.width, result.height) != (image.width, image.height):
            raise serializers.ValidationError(
                {"result": ["The result is for a picture of another size than this one."]}
            )
        for face in result.faces:
            box = face.face.box
            inside = box.x >= 0 and box.y >= 0 and box.w > 0 and box.h > 0
            if not inside or box.x + box.w > image.width or box.y + box.h > image.height:
                raise serializers.ValidationError(
                    {"result": [f"Face {face.index + 1}'s box lies outside the picture."]}
                )
        run = analysis_services.AnalysisRun(
            image=image,
            result=result,
            enhance=result_input.validated_data["enhance"],
            annotated_jpeg=None,
        )
        owner = owner_of(request)
        saved = services.analysis_save(
            owner=owner,
            run=run,
            name=data.get("name", ""),
            source=_source(request),
            keep_image=data["keep_image"],
            signatures=people.signatures_for(owner=owner, run=run),
        )
        return Response(_render(request, saved), status=status.HTTP_201_CREATED)


class AnalysisDetailApi(APIView):
    """One saved analysis: read it, rename it, delete it (its files go too)."""

    @extend_schema_serializer(component_name="AnalysisRename")
    class RenameSerializer(serializers.Serializer):  # type: ignore[type-arg]
        name = serializers.CharField(max_length=200)

    @extend_schema(
        parameters=[ANALYSIS_ID], responses={200: SavedAnalysisWithLinksOutput, **NOT_FOUND}
    )
    def get(self, request: Request, analysis_id: int) -> Response:
        analysis = selectors.analysis_of(owner_of(request), analysis_id)
        return Response(_render(request, analysis))

    @extend_schema(
        parameters=[ANALYSIS_ID],
        request=RenameSerializer,
        responses={200: SavedAnalysisWithLinksOutput, 400: ErrorOutput, **NOT_FOUND},
    )
    def patch(self, request: Request, analysis_id: int) -> Response:
        analysis = selectors.analysis_of(owner_of(request), analysis_id)
        serializer = self.RenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.analysis_rename(analysis=analysis, name=serializer.validated_data["name"])
        except ValueError as exc:
            raise serializers.ValidationError({"name": [str(exc)]}) from exc
        return Response(_render(request, analysis))

    @extend_schema(parameters=[ANALYSIS_ID], responses={204: None, **NOT_FOUND})
    def delete(self, request: Request, analysis_id: int) -> Response:
        analysis = selectors.analysis_of(owner_of(request), analysis_id)
        services.analyses_delete(analyses=[analysis])
        return Response(status=status.HTTP_204_NO_CONTENT)


class AnalysisExportApi(APIView):
    """The caller's analyses (all, or ``ids``) as CSV, JSON or a ZIP with the images.

    The format is part of the path (``export/csv``): a ``format`` query parameter would be
    taken by DRF's content negotiation.
    """

    throttle_scope = "export"

    @extend_schema(
        parameters=[
            OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=list(EXPORT_FORMATS)),
            OpenApiParameter("ids", str, description="comma-separated analysis ids"),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/json"): SavedAnalysesExport,
            (200, "application/zip"): OpenApiTypes.BINARY,
            400: ErrorOutput,
            401: ErrorOutput,
            429: ErrorOutput,
        },
    )
    def get(self, request: Request, fmt: str) -> HttpResponse | FileResponse:
        if fmt not in EXPORT_FORMATS:
            choices = ", ".join(EXPORT_FORMATS)
            raise serializers.ValidationError({"format": [f"Choose one of {choices}."]})
        owner = owner_of(request)
        if request.query_params.get("ids"):
            ids = selectors.parse_ids(request.query_params["ids"].split(","))
            if not ids:
                raise serializers.ValidationError({"ids": ["Give ids as integers, e.g. 3,7."]})
            return export_response(selectors.analyses_by_ids(owner, ids), fmt)
        # The whole archive's ZIP holds the user's people too.
        return export_response(
            selectors.analyses_of(owner),
            fmt,
            people=people.people_of(owner).prefetch_related("signatures"),
        )


class AnalysisImageApi(APIView):
    """An analysis's original, annotated or thumbnail picture (JPEG)."""

    @extend_schema(
        parameters=[
            ANALYSIS_ID,
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(IMAGE_KINDS)),
        ],
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY, 400: ErrorOutput, **NOT_FOUND},
    )
    def get(self, request: Request, analysis_id: int, kind: str) -> FileResponse:
        if kind not in IMAGE_KINDS:
            choices = ", ".join(IMAGE_KINDS)
            raise serializers.ValidationError({"kind": [f"Choose one of {choices}."]})
        return image_response(selectors.analysis_of(owner_of(request), analysis_id), kind)


class UsageOutput(_Output):
    class DayOutput(_Output):
        day = serializers.DateField()
        analyses = serializers.IntegerField()
        faces = serializers.IntegerField()
        by_source = serializers.DictField(
            child=serializers.DictField(child=serializers.IntegerField()),
            help_text="per source (upload, camera, api): analyses and faces",
        )

    date_from = serializers.DateField()
    date_to = serializers.DateField()
    analyses = serializers.IntegerField()
    faces = serializers.IntegerField()
    days = DayOutput(many=True)
    saved_analyses = serializers.IntegerField()
    bytes_stored = serializers.IntegerField(help_text="the size of the kept pictures")
    throttle = serializers.DictField(
        child=serializers.DictField(),
        help_text="per limited endpoint: its rate, and how many requests are left now",
    )


def usage_body(usage: selectors.Usage, allowance_left: dict[str, Any]) -> dict[str, Any]:
    return {
        "date_from": usage.date_from,
        "date_to": usage.date_to,
        "analyses": usage.analyses,
        "faces": usage.faces,
        "days": [
            {
                "day": day,
                "analyses": sum(a for a, _ in counts.values()),
                "faces": sum(f for _, f in counts.values()),
                "by_source": {
                    source: {"analyses": a, "faces": f} for source, (a, f) in counts.items()
                },
            }
            for day, counts in usage.days
        ],
        "saved_analyses": usage.saved_analyses,
        "bytes_stored": usage.bytes_stored,
        "throttle": allowance_left,
    }


class UsageApi(APIView):
    """The caller's analyses and faces per day and source, and the storage their pictures use."""

    @extend_schema_serializer(component_name="UsageRange")
    class RangeSerializer(serializers.Serializer):  # type: ignore[type-arg]
        date_from = serializers.DateField(required=False, help_text="default: 29 days ago")
        date_to = serializers.DateField(required=False, help_text="default: today")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            try:
                return selectors.usage_bounds(attrs.get("date_from"), attrs.get("date_to"))
            except ValueError as exc:
                raise serializers.ValidationError({"date_from": [str(exc)]}) from exc

    @extend_schema(
        parameters=[RangeSerializer],
        responses={200: UsageOutput, 400: ErrorOutput, 401: ErrorOutput},
    )
    def get(self, request: Request) -> Response:
        params = self.RangeSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        usage = selectors.usage_of(owner_of(request), **params.validated_data)
        return Response(UsageOutput(usage_body(usage, allowance(owner_of(request).pk))).data)
