"""The archive's answers: a saved analysis renders its faces through the same serializers as
a fresh result (analysis.api.serializers)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import _Output
from analysis.api.serializers import FaceOutput, ImageOutput
from analysis.ml.types import EMOTIONS
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
