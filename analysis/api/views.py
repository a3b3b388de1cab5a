"""POST /api/v1/detect, verify and liveness, and the input that every image endpoint shares.

``POST /api/v1/analyze`` can save to the archive, so it lives in the archive app (above this
one); it reads the same input and answers with analysis.api.serializers.
"""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import ErrorOutput
from analysis import services
from analysis.api.serializers import DetectionOutput
from analysis.ml.loaders import DETECTORS
from analysis.ml.types import Box


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


# The errors every image endpoint may answer, for the OpenAPI schema.
IMAGE_ERRORS = {
    400: ErrorOutput,
    401: ErrorOutput,
    413: ErrorOutput,
    429: ErrorOutput,
    503: ErrorOutput,
}


@extend_schema_field(OpenApiTypes.STR)
class BoxesField(serializers.Field):  # type: ignore[type-arg]
    """Boxes as "x,y,w,h" separated by semicolons ("10,20,80,80;200,40,90,90")."""

    MAX_BOXES = 50

    def to_internal_value(self, data: Any) -> list[Box]:
        text = str(data).strip()
        if not text:
            return []
        parts = text.split(";")
        if len(parts) > self.MAX_BOXES:
            raise serializers.ValidationError(f"At most {self.MAX_BOXES} boxes.")
        boxes = []
        for part in parts:
            try:
                values = [float(value) for value in part.split(",")]
                if len(values) != 4 or not all(math.isfinite(v) for v in values):
                    raise ValueError(part)
                x, y, w, h = (int(v) for v in values)
            except (ValueError, OverflowError) as exc:
                raise serializers.ValidationError(
                    'Give each box as "x,y,w,h" in pixels, boxes separated by ";".'
                ) from exc
            if w <= 0 or h <= 0:
                raise serializers.ValidationError("A box needs a positive width and height.")
            boxes.append(Box(x, y, w, h))
        return boxes

    def to_representation(self, value: list[Box]) -> str:
        return ";".join(",".join(str(v) for v in box.as_list()) for box in value)


class ImageInput(serializers.Serializer):  # type: ignore[type-arg]
    """What every image endpoint reads: the picture and the face detector."""

    # Empty files pass here so that the decoder answers them with invalid_image.
    image = serializers.FileField(allow_empty_file=True)
    detector = serializers.ChoiceField(choices=DETECTORS, default="auto")


class DetectApi(APIView):
    """Find the faces of an image (boxes and landmarks), left to right, without scoring them."""

    parser_classes = (MultiPartParser, FormParser)
    throttle_scope = "detect"

    @extend_schema_serializer(component_name="DetectInput")
    class InputSerializer(ImageInput):
        pass

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={200: DetectionOutput, **IMAGE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        detection = services.faces_detect(
            data=services.upload_read(data["image"]), detector=data["detector"]
        )
        return Response(DetectionOutput(detection).data)


class VerificationOutput(serializers.Serializer):  # type: ignore[type-arg]
    same = serializers.BooleanField(help_text="whether the two faces are of the same person")
    similarity = serializers.FloatField(
        help_text="cosine of the two faces' signatures: 1 for the same signature"
    )
    threshold = serializers.FloatField(help_text="the similarity from which faces are the same")
    faces = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=4, max_length=4),
        help_text="the compared face of each picture, [x, y, w, h] in pixels",
    )
    model = serializers.CharField(help_text="the face signature model")


class VerifyApi(APIView):
    """Whether two pictures show the same person: the largest face of each is compared.

    Identity features must be on for the user (profile, or PATCH /api/v1/me); otherwise 403
    ``identity_off``. A picture without a face answers 400 ``no_face``. The answer is a
    measurement with errors (see the README's "People"), never proof of identity.
    """

    parser_classes = (MultiPartParser, FormParser)
    throttle_scope = "analyze"

    @extend_schema_serializer(component_name="VerifyInput")
    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        image_a = serializers.FileField(allow_empty_file=True)
        image_b = serializers.FileField(allow_empty_file=True)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={200: VerificationOutput, 403: ErrorOutput, **IMAGE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        services.identity_require(request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        verification = services.faces_verify(
            data_a=services.upload_read(data["image_a"]),
            data_b=services.upload_read(data["image_b"]),
        )
        return Response(
            VerificationOutput(
                {
                    "same": verification.same,
                    "similarity": round(verification.similarity, 4),
                    "threshold": verification.threshold,
                    "faces": [face.box.as_list() for face in verification.faces],
                    "model": verification.model,
                }
            ).data
        )


class LivenessSignalOutput(serializers.Serializer):  # type: ignore[type-arg]
    """One face's liveness signal: a weak signal, never proof (README, Liveness)."""

    live = serializers.BooleanField(help_text="whether the score reaches the threshold")
    score = serializers.FloatField(help_text="0 to 1, higher for a face photographed live")


class LivenessFaceOutput(LivenessSignalOutput):
    """A face of the liveness answer: where it is, and its signal."""

    box = serializers.ListField(
        child=serializers.IntegerField(),
        min_length=4,
        max_length=4,
        help_text="the face, [x, y, w, h] in pixels",
    )


class LivenessOutput(serializers.Serializer):  # type: ignore[type-arg]
    faces = LivenessFaceOutput(many=True, help_text="every face found, left to right")
    threshold = serializers.FloatField(help_text="the score from which a face is called live")
    model = serializers.CharField(help_text="the liveness network")


class LivenessApi(APIView):
    """Whether each face of a picture looks photographed live or like a replica (a photo of a
    screen or of a print).

    A weak signal with measured error rates (README, "Liveness"), never proof: do not let it
    alone decide anything. Identity features must be on for the user; otherwise 403
    ``identity_off``. A picture without a face answers 400 ``no_face``.
    """

    parser_classes = (MultiPartParser, FormParser)
    throttle_scope = "analyze"

    @extend_schema_serializer(component_name="LivenessInput")
    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        image = serializers.FileField(allow_empty_file=True)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={200: LivenessOutput, 403: ErrorOutput, **IMAGE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        services.identity_require(request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reading = services.faces_liveness(
            data=services.upload_read(serializer.validated_data["image"])
        )
        faces = [
            {"box": face.box.as_list(), **(signal or {})}
            for face, signal in zip(reading.faces, reading.signals(), strict=True)
        ]
        return Response(
            LivenessOutput(
                {"faces": faces, "threshold": reading.threshold, "model": reading.model}
            ).data
        )
