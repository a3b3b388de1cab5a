"""GET /api/v1/analyses, GET/PATCH/DELETE /api/v1/analyses/{id}, the export and the images."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from analysis.ml.types import EMOTIONS
from archive import exports, selectors, services
from archive.models import SavedAnalysis
from archive.views import EXPORT_FORMATS, IMAGE_KINDS, export_response, image_response


def _owner(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - the API requires authentication
    return user


def _with_links(request: Request, analysis: SavedAnalysis) -> dict[str, Any]:
    body = exports.analysis_to_dict(analysis)
    body["images"] = {
        kind: request.build_absolute_uri(reverse("api:analysis-image", args=[analysis.pk, kind]))
        for kind in IMAGE_KINDS
        if getattr(analysis, kind)
    }
    return body


class AnalysisListApi(APIView):
    """The caller's saved analyses, newest first, paginated and filterable."""

    @extend_schema_serializer(component_name="AnalysisFilter")
    class FilterSerializer(serializers.Serializer):  # type: ignore[type-arg]
        q = serializers.CharField(required=False, allow_blank=True)
        emotion = serializers.ChoiceField(choices=EMOTIONS, required=False)
        date_from = serializers.DateField(required=False)
        date_to = serializers.DateField(required=False)

    @extend_schema(
        operation_id="analyses_list",
        parameters=[FilterSerializer],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        analyses = selectors.analyses_of(
            _owner(request),
            selectors.ArchiveFilter(
                query=data.get("q", "").strip(),
                emotion=data.get("emotion", ""),
                date_from=data.get("date_from"),
                date_to=data.get("date_to"),
            ),
        ).prefetch_related("faces")
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(analyses, request, view=self) or []
        return paginator.get_paginated_response([_with_links(request, a) for a in page])


class AnalysisDetailApi(APIView):
    """One saved analysis: read it, rename it, delete it (its files go too)."""

    @extend_schema_serializer(component_name="AnalysisRename")
    class RenameSerializer(serializers.Serializer):  # type: ignore[type-arg]
        name = serializers.CharField(max_length=200)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, analysis_id: int) -> Response:
        analysis = selectors.analysis_of(_owner(request), analysis_id)
        return Response(_with_links(request, analysis))

    @extend_schema(request=RenameSerializer, responses={200: OpenApiTypes.OBJECT})
    def patch(self, request: Request, analysis_id: int) -> Response:
        analysis = selectors.analysis_of(_owner(request), analysis_id)
        serializer = self.RenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.analysis_rename(analysis=analysis, name=serializer.validated_data["name"])
        except ValueError as exc:
            raise serializers.ValidationError({"name": [str(exc)]}) from exc
        return Response(_with_links(request, analysis))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, analysis_id: int) -> Response:
        analysis = selectors.analysis_of(_owner(request), analysis_id)
        services.analyses_delete(analyses=[analysis])
        return Response(status=status.HTTP_204_NO_CONTENT)


class AnalysisExportApi(APIView):
    """The caller's analyses (all, or ``ids``) as CSV, JSON or a ZIP with the images.

    The format is part of the path (``export/csv``): a ``format`` query parameter would be
    taken by DRF's content negotiation.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=list(EXPORT_FORMATS)),
            OpenApiParameter("ids", str, description="comma-separated analysis ids"),
        ],
        responses={200: OpenApiTypes.BINARY},
    )
    def get(self, request: Request, fmt: str) -> HttpResponse | FileResponse:
        if fmt not in EXPORT_FORMATS:
            choices = ", ".join(EXPORT_FORMATS)
            raise serializers.ValidationError({"format": [f"Choose one of {choices}."]})
        analyses = selectors.analyses_of(_owner(request))
        if request.query_params.get("ids"):
            ids = selectors.parse_ids(request.query_params["ids"].split(","))
            if not ids:
                raise serializers.ValidationError({"ids": ["Give ids as integers, e.g. 3,7."]})
            analyses = selectors.analyses_by_ids(_owner(request), ids)
        return export_response(analyses, fmt)


class AnalysisImageApi(APIView):
    """An analysis's original, annotated or thumbnail picture (JPEG)."""

    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY})
    def get(self, request: Request, analysis_id: int, kind: str) -> FileResponse:
        if kind not in IMAGE_KINDS:
            choices = ", ".join(IMAGE_KINDS)
            raise serializers.ValidationError({"kind": [f"Choose one of {choices}."]})
        return image_response(selectors.analysis_of(_owner(request), analysis_id), kind)
