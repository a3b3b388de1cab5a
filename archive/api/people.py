"""/api/v1/people (enrolled people and their photos) and POST /api/v1/identify.

Reading and deleting people always work, so that a user can see and remove what is stored;
enrolling a face and recognising faces need identity features on (403 ``identity_off``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import ErrorOutput, _Output
from accounts.selectors import owner_of
from analysis import services as analysis_services
from analysis.api.serializers import EmotionsOutput
from analysis.api.views import IMAGE_ERRORS
from analysis.ml import embeddings
from archive import people
from archive.api.serializers import RecognisedPersonOutput
from archive.models import Person

PERSON_ID = OpenApiParameter("person_id", int, OpenApiParameter.PATH)
SIGNATURE_ID = OpenApiParameter("signature_id", int, OpenApiParameter.PATH)
ERRORS: dict[Any, Any] = {400: ErrorOutput, 401: ErrorOutput, 403: ErrorOutput, 404: ErrorOutput}


class PhotoOutput(_Output):
    id = serializers.IntegerField()
    origin = serializers.CharField(
        source="source", help_text="upload: an uploaded photo; archive: a saved analysis"
    )
    box = serializers.ListField(
        child=serializers.IntegerField(), help_text="where the face was in its photo"
    )
    created = serializers.DateTimeField()


class PersonOutput(_Output):
    id = serializers.IntegerField()
    name = serializers.CharField()
    photo_count = serializers.IntegerField(help_text="enrolled faces (signatures, not photos)")
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()


class PersonDetailOutput(PersonOutput):
    photos = PhotoOutput(many=True)


def _person(person: Person) -> Any:
    return PersonOutput(person).data


def _person_detail(person: Person) -> Any:
    photos = [PhotoOutput(signature).data for signature in person.signatures.all()]
    return {**PersonOutput(person).data, "photos": photos}


class PersonInput(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(max_length=people.NAME_MAX_LENGTH)


class PeopleListApi(APIView):
    """The people you have enrolled (GET), or enrol a new one by name (POST; then add photos)."""

    parser_classes = (JSONParser, MultiPartParser, FormParser)

    @extend_schema(responses={200: PersonOutput(many=True), 401: ErrorOutput})
    def get(self, request: Request) -> Response:
        return Response([_person(person) for person in people.people_of(owner_of(request))])

    @extend_schema_serializer(component_name="PersonInput")
    class InputSerializer(PersonInput):
        pass

    @extend_schema(
        request=InputSerializer, responses={201: PersonDetailOutput, 409: ErrorOutput, **ERRORS}
    )
    def post(self, request: Request) -> Response:
        owner = owner_of(request)
        analysis_services.identity_require(owner)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        person = people.person_create(owner=owner, name=serializer.validated_data["name"])
        person = people.person_get(owner=owner, person_id=person.pk)
        return Response(_person_detail(person), status=status.HTTP_201_CREATED)


class PersonDetailApi(APIView):
    """One enrolled person: read, rename (PATCH), or delete with every signature (DELETE)."""

    parser_classes = (JSONParser, MultiPartParser, FormParser)

    @extend_schema(parameters=[PERSON_ID], responses={200: PersonDetailOutput, **ERRORS})
    def get(self, request: Request, person_id: int) -> Response:
        return Response(
            _person_detail(people.person_get(owner=owner_of(request), person_id=person_id))
        )

    @extend_schema(
        parameters=[PERSON_ID],
        request=PersonInput,
        responses={200: PersonDetailOutput, **ERRORS},
    )
    def patch(self, request: Request, person_id: int) -> Response:
        owner = owner_of(request)
        person = people.person_get(owner=owner, person_id=person_id)
        serializer = PersonInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        people.person_rename(person=person, name=serializer.validated_data["name"])
        return Response(_person_detail(people.person_get(owner=owner, person_id=person_id)))

    @extend_schema(parameters=[PERSON_ID], responses={204: None, **ERRORS})
    def delete(self, request: Request, person_id: int) -> Response:
        people.person_delete(person=people.person_get(owner=owner_of(request), person_id=person_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PersonPhotosApi(APIView):
    """Enrol a face, from a photo (``image``: its only face, or the one numbered ``face``, left
    to right as /api/v1/detect numbers them) or from the archive (``analysis``: one of your
    saved analyses, and ``face``, its face's number). Only the signature is kept, not the
    photo."""

    parser_classes = (MultiPartParser, FormParser, JSONParser)
    throttle_scope = "analyze"

    @extend_schema_serializer(component_name="PersonPhotoInput")
    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        image = serializers.FileField(allow_empty_file=True, required=False)
        analysis = serializers.IntegerField(
            required=False, min_value=1, help_text="a saved analysis's id, instead of image"
        )
        face = serializers.IntegerField(required=False, min_value=0)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if ("image" in attrs) == ("analysis" in attrs):
                raise serializers.ValidationError("Give either image or analysis (and face).")
            if "analysis" in attrs and "face" not in attrs:
                raise serializers.ValidationError({"face": "Say which face of the analysis."})
            return attrs

    @extend_schema(
        parameters=[PERSON_ID],
        request={
            "multipart/form-data": InputSerializer,
            "application/json": InputSerializer,
        },
        responses={201: PhotoOutput, 409: ErrorOutput, **ERRORS, **IMAGE_ERRORS},
    )
    def post(self, request: Request, person_id: int) -> Response:
        owner = owner_of(request)
        analysis_services.identity_require(owner)
        person = people.person_get(owner=owner, person_id=person_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "analysis" in data:
            signature = people.person_face_add(
                person=person, analysis_id=data["analysis"], face=data["face"]
            )
        else:
            signature = people.person_photo_add(
                person=person,
                data=analysis_services.upload_read(data["image"]),
                face=data.get("face"),
            )
        return Response(PhotoOutput(signature).data, status=status.HTTP_201_CREATED)


class PersonPhotoDetailApi(APIView):
    """Remove one enrolled face (its signature) from a person."""

    @extend_schema(parameters=[PERSON_ID, SIGNATURE_ID], responses={204: None, **ERRORS})
    def delete(self, request: Request, person_id: int, signature_id: int) -> Response:
        person = people.person_get(owner=owner_of(request), person_id=person_id)
        people.signature_delete(person=person, signature_id=signature_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AppearanceOutput(_Output):
    analysis_id = serializers.IntegerField()
    name = serializers.CharField(help_text="the saved analysis's name")
    created = serializers.DateTimeField(help_text="when the analysis was saved")
    face = serializers.IntegerField(help_text="the face's number in that analysis")
    box = serializers.ListField(child=serializers.IntegerField())
    emotions = EmotionsOutput()
    dominant_emotion = serializers.CharField()
    confidence = serializers.FloatField()
    similarity = serializers.FloatField(help_text="to the closest of the person's enrolled faces")


class AppearanceSummaryOutput(_Output):
    dominant_emotion = serializers.CharField(allow_null=True)
    distribution = EmotionsOutput(help_text="share of the appearances per dominant emotion")
    mean_emotions = EmotionsOutput(help_text="the emotions averaged over the appearances")
    count = serializers.IntegerField(help_text="faces of the person found")
    photos = serializers.IntegerField(help_text="saved analyses they appear in")
    text = serializers.CharField(help_text="the summary in words")


class AppearancesOutput(_Output):
    person = PersonOutput(allow_null=True, help_text="null when searching for a selfie")
    summary = AppearanceSummaryOutput()
    appearances = AppearanceOutput(
        many=True, help_text=f"oldest first; the {people.APPEARANCES_LISTED} most recent at most"
    )
    threshold = serializers.FloatField()
    unindexed_faces = serializers.IntegerField(
        help_text="saved faces without a signature (saved before identity features were on), "
        "not searched: manage.py people_index signs those whose picture was kept"
    )


class PersonAppearancesApi(APIView):
    """Where the person appears in your saved analyses, their emotions there over time, and
    a summary: dominant emotion, distribution, count."""

    throttle_scope = "analyze"

    @extend_schema(parameters=[PERSON_ID], responses={200: AppearancesOutput, **ERRORS})
    def get(self, request: Request, person_id: int) -> Response:
        owner = owner_of(request)
        analysis_services.identity_require(owner)
        found = people.appearances(person=people.person_get(owner=owner, person_id=person_id))
        return Response(_appearances(found))


def _appearances(found: people.Appearances) -> Any:
    mean = found.mean_emotions or dict.fromkeys(found.distribution, 0.0)
    return AppearancesOutput(
        {
            "person": found.person,
            "summary": {
                "dominant_emotion": found.dominant_emotion,
                "distribution": {k: round(v, 4) for k, v in found.distribution.items()},
                "mean_emotions": {k: round(v, 4) for k, v in mean.items()},
                "count": found.faces,
                "photos": found.photos,
                "text": found.text,
            },
            "appearances": [
                {
                    "analysis_id": item.face.analysis_id,
                    "name": item.face.analysis.name,
                    "created": item.face.analysis.created,
                    "face": item.face.index,
                    "box": item.face.box,
                    "emotions": item.face.emotions,
                    "dominant_emotion": item.face.dominant_emotion,
                    "confidence": item.face.confidence,
                    "similarity": round(item.similarity, 4),
                }
                for item in found.listed
            ],
            "threshold": embeddings.SAME_PERSON_SIMILARITY,
            "unindexed_faces": found.unindexed,
        }
    ).data


class CollectionFindApi(APIView):
    """Find a person in a collection (the photos of a batch job) from a selfie: every photo
    where the selfie's largest face appears, their emotion in each, and a summary."""

    parser_classes = (MultiPartParser, FormParser)
    throttle_scope = "analyze"

    @extend_schema_serializer(component_name="CollectionFindInput")
    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        image = serializers.FileField(allow_empty_file=True, help_text="the selfie")

    @extend_schema(
        parameters=[OpenApiParameter("collection_id", int, OpenApiParameter.PATH)],
        request={"multipart/form-data": InputSerializer},
        responses={200: AppearancesOutput, **ERRORS, **IMAGE_ERRORS},
    )
    def post(self, request: Request, collection_id: int) -> Response:
        owner = owner_of(request)
        analysis_services.identity_require(owner)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        found = people.collection_find(
            owner=owner,
            collection_id=collection_id,
            data=analysis_services.upload_read(serializer.validated_data["image"]),
        )
        return Response(_appearances(found))


def _identified(face: people.Recognised) -> dict[str, Any]:
    """A face of the identify answer: its person fields as analyze gives them, but for the
    similarity's name."""
    fields = people.person_fields(face.person, face.similarity)
    return {
        "index": face.index,
        "box": face.face.box.as_list(),
        "person": fields["person"],
        "similarity": fields["person_similarity"],
    }


class RecognisedFaceOutput(_Output):
    index = serializers.IntegerField(help_text="the face's number, left to right")
    box = serializers.ListField(child=serializers.IntegerField())
    person = RecognisedPersonOutput(allow_null=True, help_text="null: nobody you enrolled")
    similarity = serializers.FloatField(
        allow_null=True, help_text="to the closest enrolled face; null when nobody is enrolled"
    )


class IdentificationOutput(_Output):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    faces = RecognisedFaceOutput(many=True)
    threshold = serializers.FloatField(help_text="the similarity from which a face is named")
    model = serializers.CharField()


class IdentifyApi(APIView):
    """Name each face of a picture with the closest of your enrolled people, or unknown."""

    parser_classes = (MultiPartParser, FormParser)
    throttle_scope = "analyze"

    @extend_schema_serializer(component_name="IdentifyInput")
    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        image = serializers.FileField(allow_empty_file=True)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={200: IdentificationOutput, 403: ErrorOutput, **IMAGE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        owner = owner_of(request)
        analysis_services.identity_require(owner)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        found = people.identify(
            owner=owner, data=analysis_services.upload_read(serializer.validated_data["image"])
        )
        return Response(
            IdentificationOutput(
                {
                    "width": found.width,
                    "height": found.height,
                    "faces": [_identified(face) for face in found.faces],
                    "threshold": found.threshold,
                    "model": found.model,
                }
            ).data
        )
