"""POST /api/v1/analyze and POST /api/v1/detect."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import services
from analysis.ml.loaders import DETECTORS
from analysis.ml.tta import MAX_PASSES
from archive.services import analysis_save


@extend_schema_field(OpenApiTypes.STR)
class FaceIndexesField(serializers.Field):  # type: ignore[type-arg]
    """Face positions as a list or as a comma-separated string ("0,2")."""

    def to_internal_value(self, data: Any) -> list[int]:
        items = data if isinstance(data, list) else str(data).split(",")
        try:
            indexes = sorted({int(str(item).strip()) for item in items if str(item).strip()})
        except ValueError as exc:
            raise serializers.ValidationError("Give face numbers as integers, e.g. 0,2.") from exc
        if any(index < 0 for index in indexes):
            raise serializers.ValidationError("Face numbers start at 0.")
        return indexes

    def to_representation(self, value: list[int]) -> list[int]:
        return value


class ImageInput(serializers.Serializer):  # type: ignore[type-arg]
    """What every image endpoint reads: the picture and the face detector."""

    # Empty files pass here so that the decoder answers them with invalid_image.
    image = serializers.FileField(allow_empty_file=True)
    detector = serializers.ChoiceField(choices=DETECTORS, default="auto")


class AnalyzeApi(APIView):
    """Find every face of an image and score the 7 emotions, averaged over TTA passes."""

    parser_classes = (MultiPartParser, FormParser)

    @extend_schema_serializer(component_name="AnalyzeInput")
    class InputSerializer(ImageInput):
        tta = serializers.IntegerField(min_value=1, max_value=MAX_PASSES, default=10)
        enhance = serializers.ChoiceField(choices=services.ENHANCERS, default="none")
        save = serializers.BooleanField(default=False)  # type: ignore[assignment]
        name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        keep_image = serializers.BooleanField(default=True)
        faces = FaceIndexesField(required=False)
        annotate = serializers.BooleanField(default=False)

    @extend_schema(
        request={"multipart/form-data": InputSerializer}, responses={200: OpenApiTypes.OBJECT}
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        analysis = services.analysis_run(
            data=services.upload_read(data["image"]),
            detector=data["detector"],
            passes=data["tta"],
            enhance=data["enhance"],
            select=data.get("faces"),
            annotated=data["annotate"],
        )
        body = services.result_to_dict(analysis, include_image=data["annotate"])
        if data["save"]:
            saved = analysis_save(
                owner=request.user,  # type: ignore[arg-type]
                run=analysis,
                name=data.get("name", ""),
                keep_image=data["keep_image"],
            )
            body["analysis_id"] = saved.pk
            body["name"] = saved.name
        return Response(body)


class DetectApi(APIView):
    """Find the faces of an image (boxes and landmarks), left to right, without scoring them."""

    parser_classes = (MultiPartParser, FormParser)

    @extend_schema_serializer(component_name="DetectInput")
    class InputSerializer(ImageInput):
        pass

    @extend_schema(
        request={"multipart/form-data": InputSerializer}, responses={200: OpenApiTypes.OBJECT}
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        detection = services.faces_detect(
            data=services.upload_read(data["image"]), detector=data["detector"]
        )
        return Response(
            {
                "image": services.image_to_dict(detection.image),
                "detector": detection.detector,
                "faces": [
                    services.face_to_dict(face, index) for index, face in enumerate(detection.faces)
                ],
                "timings_ms": {"detect": detection.millis},
            }
        )
