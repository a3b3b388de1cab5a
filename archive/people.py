"""People a user enrols, and recognising them in pictures (identity features, with consent).

A person keeps signatures (analysis.ml.embeddings), one per enrolled face, never the photos. A
face is recognised as the enrolled person with the most similar signature, when that
similarity reaches the verification threshold; otherwise it is unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from analysis import services as analysis_services
from analysis.ml import embeddings
from analysis.ml.images import ImageError
from analysis.ml.types import EMOTIONS, DetectedFace, largest
from archive.models import Collection, Face, Person, PersonSignature, SavedAnalysis

logger = logging.getLogger(__name__)

NAME_MAX_LENGTH = 200
# Bounds on what one user can store, so that identification stays quick and memory bounded.
MAX_PEOPLE = 1000
MAX_SIGNATURES_PER_PERSON = 50


class PeopleError(ValueError):
    code = "validation_error"
    http_status = 400


class PeopleLimit(PeopleError):
    code = "too_many"
    http_status = 409


class FaceChoice(ImageError):
    """The picture has several faces (or not the one asked for): the request must say which."""

    code = "validation_error"


def people_of(owner: User) -> QuerySet[Person]:
    """``owner``'s people, by name, each with its number of signatures (``photo_count``)."""
    return Person.objects.filter(owner=owner).annotate(photo_count=Count("signatures"))


def person_get(*, owner: User, person_id: int) -> Person:
    """One of ``owner``'s people (404 for anyone else's)."""
    return get_object_or_404(people_of(owner), pk=person_id)


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise PeopleError("name: give the person a name.")
    if len(name) > NAME_MAX_LENGTH:
        raise PeopleError(f"name: at most {NAME_MAX_LENGTH} characters.")
    return name


def person_create(*, owner: User, name: str) -> Person:
    name = _clean_name(name)
    try:
        with transaction.atomic():
            # The owner's row is the lock that keeps two requests from both passing the count.
            User.objects.select_for_update().filter(pk=owner.pk).first()
            if Person.objects.filter(owner=owner).count() >= MAX_PEOPLE:
                raise PeopleLimit(f"You have {MAX_PEOPLE} people already: delete some first.")
            return Person.objects.create(owner=owner, name=name)
    except IntegrityError as exc:
        raise PeopleError(f"name: you already have someone called {name!r}.") from exc


def person_rename(*, person: Person, name: str) -> Person:
    person.name = _clean_name(name)
    try:
        with transaction.atomic():
            person.save(update_fields=["name", "updated"])
    except IntegrityError as exc:
        raise PeopleError(f"name: you already have someone called {person.name!r}.") from exc
    return person


def person_delete(*, person: Person) -> None:
    """Delete the person with every signature."""
    person.delete()


def _room_check(person: Person) -> None:
    if person.signatures.count() >= MAX_SIGNATURES_PER_PERSON:
        raise PeopleLimit(
            f"{person.name} has {MAX_SIGNATURES_PER_PERSON} photos already: delete some first."
        )


def person_photo_add(*, person: Person, data: bytes, face: int | None = None) -> PersonSignature:
    """Enrol a face of a photo: the one numbered ``face`` (left to right, as detect numbers
    them), or the only face. The photo itself is not kept."""
    _room_check(person)

    def chosen(found: list[DetectedFace]) -> list[DetectedFace]:
        count = len(found)
        if count == 0:
            raise analysis_services.NoFace("the photo")
        if face is None and count > 1:
            raise FaceChoice(
                f"face: the photo has {count} faces; say which one with face (0 to {count - 1}, "
                "left to right)."
            )
        number = 0 if face is None else face
        if not 0 <= number < count:
            raise FaceChoice(f"face: the photo has {count} face(s), numbered 0 to {count - 1}.")
        # Only the chosen face is signed (about 140 ms a face).
        return [found[number]]

    signed = analysis_services.faces_sign(data=data, choose=chosen)
    return _signature_add(
        person,
        signed.signatures[0],
        model=signed.model,
        source=PersonSignature.Source.UPLOAD,
        box=signed.faces[0].box.as_list(),
    )


def person_face_add(*, person: Person, analysis_id: int, face: int) -> PersonSignature:
    """Enrol a face already in the archive: face number ``face`` of the owner's saved analysis
    ``analysis_id`` (another user's analysis is not found). Its stored signature is used when
    it has one; otherwise it is signed from the analysis's kept picture (and keeps that
    signature)."""
    _room_check(person)
    analysis = get_object_or_404(SavedAnalysis, owner=person.owner, pending=False, pk=analysis_id)
    saved = analysis.faces.filter(index=face).first()
    if saved is None:
        count = analysis.faces.count()
        raise FaceChoice(f"face: that analysis has {count} face(s), numbered 0 to {count - 1}.")
    if saved.found_by == "whole_image":
        raise FaceChoice(
            "face: no face was found in that picture (it was read whole), so there is no face "
            "to enrol."
        )
    if saved.signature is None or saved.signature_model != analysis_services.SIGNATURE_MODEL:
        if not analysis.original:
            raise FaceChoice(
                "face: that analysis kept neither its picture nor this face's signature, so "
                "the face cannot be enrolled; enrol it from a photo instead."
            )
        _saved_faces_sign(analysis, [saved])
    assert saved.signature is not None  # noqa: S101 - stored, or just signed
    return _signature_add(
        person,
        _vectors([saved.signature])[0],
        model=saved.signature_model,
        source=PersonSignature.Source.ARCHIVE,
        box=saved.box,
    )


def _saved_faces_sign(
    analysis: SavedAnalysis,
    faces: list[Face],
    *,
    lane: str = analysis_services.INTERACTIVE,
    lane_wait: float = 0.0,
) -> None:
    """Sign saved ``faces`` of ``analysis`` from its kept picture, and store the signatures
    with them. Raises OSError or ImageError when the picture cannot be read."""
    with analysis.original.open("rb") as handle:
        image = analysis_services.image_decode(data=handle.read())
    found = analysis_services.signatures_of(
        image, [face.to_result().face for face in faces], lane=lane, lane_wait=lane_wait
    )
    for face, vector in zip(faces, found.signatures, strict=True):
        face.signature = vector.astype(np.float32).tobytes()
        face.signature_model = found.model
    Face.objects.bulk_update(faces, ["signature", "signature_model"])


def _signature_add(
    person: Person, vector: embeddings.Signature, *, model: str, source: str, box: list[int]
) -> PersonSignature:
    with transaction.atomic():
        # Counted again under the person's lock: the face took a while to sign, and other
        # faces (or a deletion of the person) may have come meanwhile.
        locked = get_object_or_404(Person.objects.select_for_update(), pk=person.pk)
        _room_check(locked)
        return PersonSignature.objects.create(
            person=locked,
            vector=vector.astype(np.float32).tobytes(),
            model=model,
            source=source,
            box=box,
        )


def signature_delete(*, person: Person, signature_id: int) -> None:
    get_object_or_404(person.signatures, pk=signature_id).delete()


def signatures_for(
    *,
    owner: User,
    run: analysis_services.AnalysisRun,
    lane: str = analysis_services.INTERACTIVE,
    lane_wait: float = 0.0,
) -> analysis_services.Signed | None:
    """The signatures to save with ``run``'s faces when ``owner`` has identity features on
    (None otherwise, or when the signature model cannot run here or is busy: the faces are
    then saved without, and ``manage.py people_index`` can add them later)."""
    if not owner.identity_enabled or not run.result.faces:
        return None
    try:
        return analysis_services.signatures_of(
            run.image, [face.face for face in run.result.faces], lane=lane, lane_wait=lane_wait
        )
    except (analysis_services.FeatureUnavailable, analysis_services.Busy):
        logger.warning("No face signatures: the signature model is unavailable or busy")
        return None


@dataclass(frozen=True)
class Recognised:
    index: int
    face: DetectedFace
    person: Person | None
    similarity: float | None


@dataclass(frozen=True)
class Identification:
    width: int
    height: int
    faces: list[Recognised]
    threshold: float
    model: str


@dataclass(frozen=True)
class Gallery:
    """Every signature of one owner's people made by one model, with whose each is. Read once
    and used for as many faces as needed (an analysis, or a camera stream's new faces)."""

    vectors: npt.NDArray[np.float32]
    person_ids: list[int]
    people: dict[int, Person]

    def closest(self, signature: embeddings.Signature) -> tuple[Person | None, float | None]:
        """The enrolled person closest to ``signature`` when similar enough (else None), and
        the similarity (None when nobody is enrolled)."""
        if not self.person_ids:
            return None, None
        similarities = self.vectors @ signature
        best = int(similarities.argmax())
        similarity = float(similarities[best])
        if similarity < embeddings.SAME_PERSON_SIMILARITY:
            return None, similarity
        return self.people.get(self.person_ids[best]), similarity


def person_fields(person: Person | None, similarity: float | None) -> dict[str, Any]:
    """A face's ``person`` and ``person_similarity``, as the analyze answer and the camera
    give them."""
    return {
        "person": None if person is None else {"id": person.pk, "name": person.name},
        "person_similarity": None if similarity is None else round(similarity, 4),
    }


def gallery_of(owner: User, model: str) -> Gallery:
    rows = list(
        PersonSignature.objects.filter(person__owner=owner, model=model).values_list(
            "person_id", "vector"
        )
    )
    return Gallery(
        vectors=_vectors([vector for _, vector in rows]),
        person_ids=[person_id for person_id, _ in rows],
        people={person.pk: person for person in Person.objects.filter(owner=owner)},
    )


def gallery_version(owner: User) -> tuple[Any, ...]:
    """What changes when ``owner``'s gallery does (a face enrolled or removed, a person added,
    renamed or deleted), read cheaply, so that a long-lived reader knows when to read again."""
    # One query: per person, its name, how many signatures it has and the newest one.
    return tuple(
        Person.objects.filter(owner=owner)
        .annotate(count=Count("signatures"), last=Max("signatures__id"))
        .order_by("pk")
        .values_list("pk", "name", "count", "last")
    )


def faces_named(*, owner: User, signed: analysis_services.Signed) -> list[Recognised]:
    """Each signed face named with the closest of ``owner``'s people when similar enough,
    else unknown (``person`` None; ``similarity`` None when nobody is enrolled)."""
    gallery = gallery_of(owner, signed.model)
    return [
        Recognised(index, face, *gallery.closest(signature))
        for index, (face, signature) in enumerate(zip(signed.faces, signed.signatures, strict=True))
    ]


def identify(*, owner: User, data: bytes) -> Identification:
    """Each face of the picture, left to right, named with the closest of ``owner``'s people
    when similar enough, else unknown."""
    signed = analysis_services.faces_sign(data=data)
    return Identification(
        width=signed.image.width,
        height=signed.image.height,
        faces=faces_named(owner=owner, signed=signed),
        threshold=embeddings.SAME_PERSON_SIMILARITY,
        model=signed.model,
    )


# How many of a person's appearances an answer lists (the most recent); the summary counts all.
APPEARANCES_LISTED = 500
# Saved faces compared per database round trip, so that memory stays bounded.
SEARCH_CHUNK = 2000


@dataclass(frozen=True)
class Appearance:
    face: Face
    similarity: float


@dataclass(frozen=True)
class Appearances:
    """Where someone appears among saved faces, and how they look there."""

    name: str
    person: Person | None
    listed: list[Appearance]
    faces: int
    photos: int
    # Share of the appearances whose dominant emotion is each emotion (sums to 1).
    distribution: dict[str, float]
    # Their emotions averaged over every appearance.
    mean_emotions: dict[str, float]
    dominant_emotion: str | None
    # Saved faces with no signature yet (saved with identity features off): not searched.
    unindexed: int

    @property
    def text(self) -> str:
        if not self.faces or self.dominant_emotion is None:
            return f"{self.name}: not found."
        share = self.distribution[self.dominant_emotion]
        photos = f"{self.photos} photo{'s' if self.photos != 1 else ''}"
        return (
            f"{self.name}: mostly {self.dominant_emotion} ({share:.0%} of "
            f"{self.faces} appearance{'s' if self.faces != 1 else ''}, in {photos})."
        )


def _vectors(rows: Sequence[bytes | memoryview]) -> npt.NDArray[np.float32]:
    """Signatures stored as bytes, as one matrix (rows x dimensions)."""
    if not rows:
        return np.zeros((0, embeddings.DlibEmbedder.dimensions), dtype=np.float32)
    return np.frombuffer(b"".join(bytes(row) for row in rows), dtype=np.float32).reshape(
        len(rows), -1
    )


def _search(
    *,
    name: str,
    person: Person | None,
    gallery: npt.NDArray[np.float32],
    model: str,
    saved: QuerySet[Face],
) -> Appearances:
    """The faces of ``saved`` whose signature is at least the threshold similar to one of
    ``gallery``'s, oldest first: an exact search, a chunk of faces at a time."""
    unindexed = saved.filter(signature__isnull=True).count()
    threshold = embeddings.SAME_PERSON_SIMILARITY
    matched: dict[int, float] = {}
    totals = np.zeros(len(EMOTIONS))
    dominant_counts = dict.fromkeys(EMOTIONS, 0)
    photos: set[int] = set()
    rows = saved.filter(signature__isnull=False, signature_model=model).values_list(
        "id", "analysis_id", "signature", "dominant_emotion", *EMOTIONS
    )
    chunk: list[tuple[Any, ...]] = []

    def compare() -> None:
        similarities = (_vectors([row[2] for row in chunk]) @ gallery.T).max(axis=1)
        for row, similarity in zip(chunk, similarities, strict=True):
            if similarity >= threshold:
                face_id, analysis_id, _, dominant, *probabilities = row
                matched[face_id] = float(similarity)
                totals[:] += probabilities
                dominant_counts[dominant] += 1
                photos.add(analysis_id)
        chunk.clear()

    for row in rows.iterator(chunk_size=SEARCH_CHUNK) if len(gallery) else ():
        chunk.append(row)
        if len(chunk) == SEARCH_CHUNK:
            compare()
    if chunk:
        compare()
    count = len(matched)
    if not count:
        return Appearances(
            name, person, [], 0, 0, dict.fromkeys(EMOTIONS, 0.0), {}, None, unindexed
        )
    listed = (
        Face.objects.filter(pk__in=list(matched))
        .select_related("analysis")
        .order_by("-analysis__created", "-analysis_id", "index")[:APPEARANCES_LISTED]
    )
    return Appearances(
        name=name,
        person=person,
        listed=[Appearance(face, matched[face.pk]) for face in reversed(list(listed))],
        faces=count,
        photos=len(photos),
        distribution={emotion: dominant_counts[emotion] / count for emotion in EMOTIONS},
        mean_emotions={emotion: float(totals[i] / count) for i, emotion in enumerate(EMOTIONS)},
        dominant_emotion=max(EMOTIONS, key=dominant_counts.__getitem__),
        unindexed=unindexed,
    )


def appearances(*, person: Person) -> Appearances:
    """Every saved face of the person's owner similar enough to one of the person's enrolled
    faces, oldest first, with a summary of their emotions."""
    saved = Face.objects.filter(analysis__owner=person.owner, analysis__pending=False)
    enrolled = list(person.signatures.values_list("vector", "model"))
    model = enrolled[0][1] if enrolled else ""
    gallery = _vectors([vector for vector, name in enrolled if name == model])
    return _search(name=person.name, person=person, gallery=gallery, model=model, saved=saved)


def collection_find(*, owner: User, collection_id: int, data: bytes) -> Appearances:
    """Every photo of a collection in which the person of a selfie (its largest face)
    appears, with their emotion in each and a summary."""
    collection = get_object_or_404(Collection.objects.filter(owner=owner), pk=collection_id)

    def selfie_face(found: list[DetectedFace]) -> list[DetectedFace]:
        if not found:
            raise analysis_services.NoFace("the selfie")
        # Only the selfie's own (largest) face is signed.
        return [largest(found)]

    signed = analysis_services.faces_sign(data=data, choose=selfie_face)
    saved = Face.objects.filter(
        analysis__owner=owner, analysis__collection=collection, analysis__pending=False
    )
    return _search(
        name="The person of the selfie",
        person=None,
        gallery=signed.signatures,
        model=signed.model,
        saved=saved,
    )


def archive_index(*, owner: User, say: Callable[[str], None] = lambda line: None) -> int:
    """Sign the saved faces of ``owner`` that have no signature yet, from the pictures their
    analyses kept (faces saved without their picture cannot be signed afterwards). Returns how
    many faces were signed. One analysis at a time, so memory stays bounded."""
    if not owner.identity_enabled:
        return 0
    waiting = (
        SavedAnalysis.objects.filter(owner=owner, pending=False, faces__signature__isnull=True)
        .exclude(original="")
        .distinct()
        .order_by("pk")
    )
    signed = 0
    for analysis in waiting.iterator(chunk_size=100):
        faces = list(analysis.faces.filter(signature__isnull=True))
        try:
            _saved_faces_sign(
                analysis,
                faces,
                lane=analysis_services.HEAVY,
                lane_wait=analysis_services.JOB_LANE_WAIT,
            )
        except (OSError, ImageError) as exc:
            say(f"  analysis {analysis.pk}: its picture cannot be read ({exc})")
            continue
        signed += len(faces)
    return signed
