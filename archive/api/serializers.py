"""The archive's answers: a saved analysis renders its faces through the same serializers as
a fresh result (analysis.api.serializers)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import _Output
from analysis.api.serializers import FOUND_BY, VERDICTS, FaceOutput, ImageOutput
from analysis.ml.loaders import ENHANCERS
from analysis.ml.tta import MAX_PASSES
from analysis.ml.types import (
    EMOTIONS,
    Box,
    DetectedFace,
    EmotionScores,
    FaceResult,
    ImageResult,
    Landmarks,
    Quality,
)
from archive.models import SavedAnalysis

IMAGE_KINDS = ("original", "annotated", "thumbnail")


class SavedImage:
    """What a saved analysis knows of its picture (the upload's format is not kept)."""

    def __init__(self, analysis: SavedAnalysis) -> None:
        self.width = analysis.width
        self.height = analysis.height
        self.format = None
        self.exif_rotated = None
        self.reduced_by = 1


class RecognisedPersonOutput(_Output):
    """Who a face is, among the owner's people (identify, and analyze with identity features
    on)."""

    id = serializers.IntegerField()
    name = serializers.CharField()


class SavedAnalysisOutput(_Output):
    """A saved analysis with its faces; reads an archive.models.SavedAnalysis."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    created = serializers.DateTimeField()
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=SavedAnalysis.Source.choices
    )
    image = serializers.SerializerMethodField()
    has_image = serializers.BooleanField()
    detector = serializers.CharField()
    passes = serializers.IntegerField()
    enhance = serializers.CharField()
    models = serializers.DictField(child=serializers.CharField(), source="model_versions")
    dominant_emotion = serializers.ChoiceField(choices=EMOTIONS, allow_null=True)
    faces = serializers.SerializerMethodField()

    @extend_schema_field(ImageOutput)
    def get_image(self, analysis: SavedAnalysis) -> Any:
        return ImageOutput(SavedImage(analysis)).data

    @extend_schema_field(FaceOutput(many=True))
    def get_faces(self, analysis: SavedAnalysis) -> Any:
        return FaceOutput([face.to_result() for face in analysis.faces.all()], many=True).data

    def to_representation(self, instance: SavedAnalysis) -> Any:
        body = super().to_representation(instance)
        body["dominant_emotion"] = body["dominant_emotion"] or None
        return body


@extend_schema_field(
    {
        "type": "object",
        "properties": {kind: {"type": "string", "format": "uri"} for kind in IMAGE_KINDS},
        "description": "links to the pictures that were kept",
    }
)
class ImageLinksField(serializers.Field):  # type: ignore[type-arg]
    def __init__(self, **kwargs: Any) -> None:
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, analysis: SavedAnalysis) -> dict[str, str]:
        request = self.context.get("request")
        links = {}
        for kind in IMAGE_KINDS:
            if getattr(analysis, kind):
                url = reverse("api:analysis-image", args=[analysis.pk, kind])
                links[kind] = request.build_absolute_uri(url) if request else url
        return links


class SavedAnalysisWithLinksOutput(SavedAnalysisOutput):
    """What the API answers: the saved analysis and links to its pictures."""

    images = ImageLinksField()


class SavedAnalysesExport(_Output):
    """The JSON export: every chosen analysis with its faces."""

    analyses = SavedAnalysisOutput(many=True)


def _emotion_map(value: dict[str, float], *, name: str) -> dict[str, float]:
    if set(value) != set(EMOTIONS):
        raise serializers.ValidationError(f"{name} needs exactly the 7 emotions.")
    if any(not 0.0 <= float(p) <= 1.0 for p in value.values()):
        raise serializers.ValidationError(f"{name} values lie between 0 and 1.")
    return {emotion: float(value[emotion]) for emotion in EMOTIONS}


class QualityInput(serializers.Serializer):  # type: ignore[type-arg]
    verdict = serializers.ChoiceField(choices=VERDICTS)
    reasons = serializers.ListField(child=serializers.CharField(max_length=200), max_length=10)
    face_size = serializers.IntegerField(min_value=0, max_value=100_000)
    sharpness = serializers.FloatField(min_value=0)
    yaw = serializers.FloatField(allow_null=True)
    roll = serializers.FloatField(allow_null=True)


class FaceInput(serializers.Serializer):  # type: ignore[type-arg]
    """A face as the analyze answer gave it (FaceOutput), sent back to be saved."""

    index = serializers.IntegerField(min_value=0, max_value=999)
    box = serializers.ListField(child=serializers.IntegerField(), min_length=4, max_length=4)
    score = serializers.FloatField(min_value=0, max_value=1)
    detector = serializers.CharField(max_length=20)
    found_by = serializers.ChoiceField(choices=FOUND_BY)
    landmarks = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        min_length=5,
        max_length=5,
        allow_null=True,
        required=False,
    )
    emotions = serializers.DictField(child=serializers.FloatField())
    spread = serializers.DictField(child=serializers.FloatField())
    agreement = serializers.FloatField(min_value=0, max_value=1)
    quality = QualityInput()

    def validate_emotions(self, value: dict[str, float]) -> dict[str, float]:
        emotions = _emotion_map(value, name="emotions")
        if abs(sum(emotions.values()) - 1.0) > 0.02:
            raise serializers.ValidationError("emotions must sum to 1.")
        return emotions

    def validate_spread(self, value: dict[str, float]) -> dict[str, float]:
        return _emotion_map(value, name="spread")


class ResultInput(serializers.Serializer):  # type: ignore[type-arg]
    """The answer of ``POST /api/v1/analyze`` (the fields that are saved)."""

    class Size(serializers.Serializer):  # type: ignore[type-arg]
        width = serializers.IntegerField(min_value=1)
        height = serializers.IntegerField(min_value=1)

    image = Size()
    detector = serializers.CharField(max_length=20)
    passes = serializers.IntegerField(min_value=1, max_value=MAX_PASSES)
    enhance = serializers.ChoiceField(choices=ENHANCERS, default="none")
    notes = serializers.ListField(
        child=serializers.CharField(max_length=500), max_length=10, default=list
    )
    models = serializers.DictField(child=serializers.CharField(max_length=100), default=dict)
    faces = FaceInput(many=True, max_length=100)  # type: ignore[call-arg]

    def validate_models(self, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 10 or any(len(str(key)) > 50 for key in value):
            raise serializers.ValidationError("At most 10 models, named in 50 characters.")
        return value

    def validate_faces(self, faces: list[dict[str, Any]]) -> list[dict[str, Any]]:
        indexes = [face["index"] for face in faces]
        if len(set(indexes)) != len(indexes):
            raise serializers.ValidationError("Each face number may appear once.")
        return faces


def result_from_input(data: dict[str, Any]) -> ImageResult:
    """The pipeline's result for a validated ResultInput."""
    faces = []
    for face in data["faces"]:
        quality = face["quality"]
        landmarks = face.get("landmarks")
        emotions = face["emotions"]
        faces.append(
            FaceResult(
                index=face["index"],
                face=DetectedFace(
                    box=Box(*face["box"]),
                    score=face["score"],
                    detector=face["detector"],
                    landmarks=Landmarks(*(tuple(p) for p in landmarks)) if landmarks else None,
                    how=face["found_by"],
                ),
                emotions=EmotionScores(
                    probabilities=emotions,
                    spread=face["spread"],
                    passes=data["passes"],
                    agreement=face["agreement"],
                ),
                quality=Quality(
                    verdict=quality["verdict"],
                    reasons=tuple(quality["reasons"]),
                    face_size=quality["face_size"],
                    sharpness=quality["sharpness"],
                    yaw=quality["yaw"],
                    roll=quality["roll"],
                ),
            )
        )
    return ImageResult(
        width=data["image"]["width"],
        height=data["image"]["height"],
        detector=data["detector"],
        passes=data["passes"],
        faces=tuple(faces),
        notes=tuple(data["notes"]),
        models=data["models"],
    )
