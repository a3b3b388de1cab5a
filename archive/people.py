"""People a user enrols, and recognising them in pictures (identity features, with consent).

A person keeps signatures (analysis.ml.embeddings), one per enrolled face, never the photos. A
face is recognised as the enrolled person with the most similar signature, when that
similarity reaches the verification threshold; otherwise it is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from analysis import services as analysis_services
from analysis.ml import embeddings
from analysis.ml.images import ImageError
from analysis.ml.types import DetectedFace
from archive.models import Person, PersonSignature

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
    if Person.objects.filter(owner=owner).count() >= MAX_PEOPLE:
        raise PeopleLimit(f"You have {MAX_PEOPLE} people already: delete some first.")
    try:
        with transaction.atomic():
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


def person_photo_add(*, person: Person, data: bytes, face: int | None = None) -> PersonSignature:
    """Enrol a face of a photo: the one numbered ``face`` (left to right, as detect numbers
    them), or the only face. The photo itself is not kept."""
    if person.signatures.count() >= MAX_SIGNATURES_PER_PERSON:
        raise PeopleLimit(
            f"{person.name} has {MAX_SIGNATURES_PER_PERSON} photos already: delete some first."
        )
    signed = analysis_services.faces_sign(data=data)
    count = len(signed.faces)
    if count == 0:
        raise analysis_services.NoFace("the photo")
    if face is None:
        if count > 1:
            raise FaceChoice(
                f"face: the photo has {count} faces; say which one with face (0 to {count - 1}, "
                "left to right)."
            )
        face = 0
    if not 0 <= face < count:
        raise FaceChoice(f"face: the photo has {count} face(s), numbered 0 to {count - 1}.")
    return PersonSignature.objects.create(
        person=person,
        vector=signed.signatures[face].astype(np.float32).tobytes(),
        model=signed.model,
        source=PersonSignature.Source.UPLOAD,
        box=signed.faces[face].box.as_list(),
    )


def signature_delete(*, person: Person, signature_id: int) -> None:
    get_object_or_404(person.signatures, pk=signature_id).delete()


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


def _gallery(owner: User, model: str) -> tuple[npt.NDArray[np.float32], list[int]]:
    """Every signature of ``owner``'s people made by ``model``, with its person's id."""
    rows = list(
        PersonSignature.objects.filter(person__owner=owner, model=model).values_list(
            "person_id", "vector"
        )
    )
    if not rows:
        return np.zeros((0, embeddings.DlibEmbedder.dimensions), dtype=np.float32), []
    vectors = np.stack([np.frombuffer(bytes(vector), dtype=np.float32) for _, vector in rows])
    return vectors, [person_id for person_id, _ in rows]


def identify(*, owner: User, data: bytes) -> Identification:
    """Each face of the picture, left to right, named with the closest of ``owner``'s people
    when similar enough, else unknown (``person`` None)."""
    signed = analysis_services.faces_sign(data=data)
    vectors, person_ids = _gallery(owner, signed.model)
    people = {person.pk: person for person in Person.objects.filter(owner=owner)}
    threshold = embeddings.SAME_PERSON_SIMILARITY
    recognised = []
    for index, (face, signature) in enumerate(zip(signed.faces, signed.signatures, strict=True)):
        person, similarity = None, None
        if person_ids:
            similarities = vectors @ signature
            best = int(similarities.argmax())
            similarity = float(similarities[best])
            if similarity >= threshold:
                person = people.get(person_ids[best])
        recognised.append(Recognised(index, face, person, similarity))
    return Identification(
        width=signed.image.width,
        height=signed.image.height,
        faces=recognised,
        threshold=threshold,
        model=signed.model,
    )
