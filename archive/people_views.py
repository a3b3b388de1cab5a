"""The People pages: enrolled people, each with their faces and their appearances in the
archive (identity features; see archive.people)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.selectors import owner_of
from analysis import services as analysis_services
from analysis.ml import embeddings
from analysis.ml.images import ImageError
from analysis.ml.types import EMOTIONS
from archive import people


@login_required
def people_page(request: HttpRequest) -> HttpResponse:
    """The people you enrolled; POST enrols a new one by name."""
    owner = owner_of(request)
    if request.method == "POST":
        if not owner.identity_enabled:
            messages.error(request, "Turn identity features on in your profile first.")
            return redirect("archive:people")
        try:
            person = people.person_create(owner=owner, name=request.POST.get("name", ""))
        except people.PeopleError as exc:
            messages.error(request, str(exc).removeprefix("name: "))
            return redirect("archive:people")
        messages.success(request, f"{person.name} was added: now add photos of their face.")
        return redirect("archive:person", person_id=person.pk)
    return render(
        request,
        "archive/people.html",
        {"people": people.people_of(owner), "nav_section": "people"},
    )


@login_required
def person_page(request: HttpRequest, person_id: int) -> HttpResponse:
    """One person: their enrolled faces, and where they appear in the archive."""
    owner = owner_of(request)
    person = people.person_get(owner=owner, person_id=person_id)
    found = people.appearances(person=person) if owner.identity_enabled else None
    columns = []
    if found is not None:
        for item in found.listed:
            emotions = item.face.emotions
            parts = [(name, round(emotions[name] * 100), emotions[name]) for name in EMOTIONS]
            columns.append((item.face.analysis.created, parts, item.face.dominant_emotion))
    return render(
        request,
        "archive/person.html",
        {
            "person": person,
            "photos": person.signatures.all(),
            "found": found,
            "columns": columns,
            "emotions": EMOTIONS,
            "threshold": embeddings.SAME_PERSON_SIMILARITY,
            "nav_section": "people",
        },
    )


@login_required
@require_POST
def person_change(request: HttpRequest, person_id: int) -> HttpResponse:
    """Rename the person, add a photo of their face, remove one, or delete the person."""
    owner = owner_of(request)
    person = people.person_get(owner=owner, person_id=person_id)
    action = request.POST.get("action")
    try:
        if action == "rename":
            people.person_rename(person=person, name=request.POST.get("name", ""))
            messages.success(request, "Renamed.")
        elif action == "delete":
            people.person_delete(person=person)
            messages.success(request, f"{person.name} and their enrolled faces were deleted.")
            return redirect("archive:people")
        elif action == "remove_photo":
            people.signature_delete(
                person=person, signature_id=int(request.POST.get("photo", "0") or 0)
            )
            messages.success(request, "The face was removed.")
        elif action == "add_photo":
            analysis_services.identity_require(owner)
            upload = request.FILES.get("image")
            if upload is None:
                raise people.PeopleError("Choose a photo of their face.")
            face = request.POST.get("face", "").strip()
            people.person_photo_add(
                person=person,
                data=analysis_services.upload_read(upload),
                face=int(face) if face.isdigit() else None,
            )
            messages.success(
                request, "The face was enrolled (its signature; the photo is not kept)."
            )
        else:
            messages.error(request, "Unknown action.")
    except (people.PeopleError, ImageError, analysis_services.IdentityOff) as exc:
        messages.error(request, str(exc).removeprefix("name: ").removeprefix("face: "))
    except (analysis_services.Busy, analysis_services.FeatureUnavailable) as exc:
        messages.error(request, str(exc))
    return redirect("archive:person", person_id=person.pk)


@login_required
@require_POST
def person_enrol_face(request: HttpRequest) -> HttpResponse:
    """Enrol a face of a saved analysis (its detail page's form) as one of the people."""
    owner = owner_of(request)
    analysis, face, person_id = (
        _number(request.POST.get(name, "")) for name in ("analysis", "face", "person")
    )
    if analysis is None or face is None or person_id is None:
        raise Http404("No such face.")
    person = people.person_get(owner=owner, person_id=person_id)
    try:
        analysis_services.identity_require(owner)
        people.person_face_add(person=person, analysis_id=analysis, face=face)
    except (
        people.PeopleError,
        ImageError,
        analysis_services.IdentityOff,
        analysis_services.Busy,
        analysis_services.FeatureUnavailable,
    ) as exc:
        messages.error(request, str(exc).removeprefix("face: "))
        return redirect("archive:detail", analysis_id=analysis)
    messages.success(request, f"Face {face + 1} of that analysis was enrolled as {person.name}.")
    return redirect("archive:person", person_id=person.pk)


def _number(text: str) -> int | None:
    """A form's whole number, or None for anything else ("", "abc", "²", "-1")."""
    return int(text) if text.isascii() and text.isdecimal() else None
