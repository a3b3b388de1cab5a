"""The one shape of a result, for everyone who answers with one.

The API, the camera's websocket and the archive's exports all render faces through these
serializers, from the pipeline's own values (analysis.ml.types); a saved face is turned back
into those values first (archive.models.Face.to_result). They also tell the OpenAPI schema what
every response holds.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import _Output
from analysis.ml.types import EMOTIONS, Box, Landmarks

VERDICTS = ("reliable", "uncertain")
# How a face was found: by the detector, after framing a tight crop, as the whole picture, or
# marked by hand.
FOUND_BY = ("detected", "framed", "whole_image", "manual")


class Rounded(serializers.FloatField):
    """A float rounded to a few decimals, so that answers stay short and stable."""

    def __init__(self, *, digits: int = 4, **kwargs: Any) -> None:
        self.digits = digits
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> float:  # type: ignore[override]
        return round(float(value), self.digits)


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "integer"},
        "minItems": 4,
        "maxItems": 4,
        "description": "x, y, width, height in pixels of the upright picture",
    }
)
class BoxField(serializers.Field):  # type: ignore[type-arg]
    def to_representation(self, value: Box) -> list[int]:
        return value.as_list()


@extend_schema_field(
    {
        "type": "array",
        "nullable": True,
        "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        "minItems": 5,
        "maxItems": 5,
        "description": "left eye, right eye (as seen), nose, mouth corners; null if unknown",
    }
)
class LandmarksField(serializers.Field):  # type: ignore[type-arg]
    def to_representation(self, value: Landmarks) -> list[list[float]]:
        return value.as_list()


class EmotionsOutput(_Output):
    """One value per emotion, in the API's order."""

    angry = Rounded(min_value=0.0, max_value=1.0)
    disgust = Rounded(min_value=0.0, max_value=1.0)
    fear = Rounded(min_value=0.0, max_value=1.0)
    happy = Rounded(min_value=0.0, max_value=1.0)
    neutral = Rounded(min_value=0.0, max_value=1.0)
    sad = Rounded(min_value=0.0, max_value=1.0)
    surprise = Rounded(min_value=0.0, max_value=1.0)


assert tuple(EmotionsOutput().fields) == EMOTIONS  # noqa: S101 - the order is the contract


class QualityOutput(_Output):
    verdict = serializers.ChoiceField(choices=VERDICTS)
    reasons = serializers.ListField(child=serializers.CharField())
    face_size = serializers.IntegerField(help_text="the face's shorter side, in pixels")
    sharpness = Rounded(digits=1)
    yaw = Rounded(digits=1, allow_null=True, help_text="degrees turned sideways, if known")
    roll = Rounded(digits=1, allow_null=True, help_text="degrees tilted, if known")


class DetectedFaceOutput(_Output):
    """A face as found, before it is scored (``detect``): reads an (index, DetectedFace)."""

    index = serializers.IntegerField(help_text="position left to right, from 0")
    box = BoxField(source="face.box")
    score = Rounded(source="face.score", help_text="the detector's confidence")
    detector = serializers.CharField(source="face.detector")
    found_by = serializers.ChoiceField(choices=FOUND_BY, source="face.how")
    landmarks = LandmarksField(source="face.landmarks", allow_null=True)


class FaceOutput(DetectedFaceOutput):
    """A scored face: reads an analysis.ml.types.FaceResult."""

    emotions = EmotionsOutput(source="emotions.probabilities")
    dominant_emotion = serializers.ChoiceField(choices=EMOTIONS, source="emotions.dominant")
    confidence = Rounded(source="emotions.confidence")
    spread = EmotionsOutput(
        source="emotions.spread", help_text="standard deviation of each emotion across passes"
    )
    agreement = Rounded(
        digits=3,
        source="emotions.agreement",
        help_text="share of passes whose top emotion is the dominant one",
    )
    quality = QualityOutput()


class ImageOutput(_Output):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    format = serializers.CharField(allow_null=True, help_text="null for saved analyses")
    exif_rotated = serializers.BooleanField(allow_null=True)
    reduced_by = serializers.IntegerField(
        help_text="1, or 2, 4, 8 when a very large JPEG was decoded at that fraction"
    )


class AnalysisOutput(_Output):
    """The answer of ``POST /api/v1/analyze``: reads an analysis.services.AnalysisRun."""

    image = ImageOutput()
    faces = FaceOutput(many=True, source="result.faces")
    analysis_id = serializers.IntegerField(
        allow_null=True, default=None, help_text="the saved analysis, when save=true"
    )
    name = serializers.CharField(required=False, help_text="the saved analysis's name")
    detector = serializers.CharField(source="result.detector")
    passes = serializers.IntegerField(source="result.passes")
    enhance = serializers.CharField()
    notes = serializers.ListField(child=serializers.CharField(), source="result.notes")
    models = serializers.DictField(child=serializers.CharField(), source="result.models")
    timings_ms = serializers.DictField(child=Rounded(digits=1), source="result.timings_ms")
    annotated_image = serializers.CharField(
        required=False, help_text="the annotated picture as a data URL, when annotate=true"
    )


class DetectionOutput(_Output):
    """The answer of ``POST /api/v1/detect``: reads an analysis.services.Detection."""

    image = ImageOutput()
    detector = serializers.CharField()
    faces = DetectedFaceOutput(many=True, source="indexed_faces")
    timings_ms = serializers.DictField(child=Rounded(digits=1))
