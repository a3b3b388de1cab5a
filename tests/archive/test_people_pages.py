"""The People pages: add, rename, enrol a face, remove it, delete; owner-scoped, with consent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import User
from archive.models import Person, PersonSignature, SavedAnalysis
from tests.conftest import login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    login_verified(client, alice)
    return client


def _consent(user: User) -> None:
    user.identity_enabled = True
    user.save(update_fields=["identity_enabled"])


def test_without_consent_the_page_says_so_and_enrols_nobody(
    alice_client: Client, alice: User
) -> None:
    page = alice_client.get("/archive/people/").content.decode()
    assert 'id="identity-off"' in page
    assert 'name="name"' not in page
    assert ">People</a>" not in page  # not in the navigation either
    response = alice_client.post("/archive/people/", {"name": "Rose"}, follow=True)
    assert "Turn identity features on" in response.content.decode()
    assert not Person.objects.exists()


def test_a_person_is_added_renamed_and_deleted_by_their_owner_only(
    alice_client: Client, alice: User, bob: User
) -> None:
    _consent(alice)
    response = alice_client.post("/archive/people/", {"name": "Rose"}, follow=True)
    person = Person.objects.get(owner=alice)
    assert response.redirect_chain[-1][0] == f"/archive/people/{person.pk}/"
    assert ">People</a>" in response.content.decode()
    duplicate = alice_client.post("/archive/people/", {"name": "Rose"}, follow=True)
    assert "already have someone called" in duplicate.content.decode()
    change = f"/archive/people/{person.pk}/change/"
    alice_client.post(change, {"action": "rename", "name": "Rose Leslie"})
    person.refresh_from_db()
    assert person.name == "Rose Leslie"
    page = alice_client.get(f"/archive/people/{person.pk}/").content.decode()
    assert "Rose Leslie: not found." in page

    stranger = Client()
    login_verified(stranger, bob)
    assert stranger.get(f"/archive/people/{person.pk}/").status_code == 404
    assert stranger.post(change, {"action": "delete"}).status_code == 404
    assert Person.objects.filter(pk=person.pk).exists()

    response = alice_client.post(change, {"action": "delete"}, follow=True)
    assert "were deleted" in response.content.decode()
    assert not Person.objects.exists()


@pytest.mark.ml
def test_a_face_is_enrolled_from_the_page_and_removed_again(
    alice_client: Client, alice: User, testdata: Path
) -> None:
    _consent(alice)
    person = Person.objects.create(owner=alice, name="Barack Obama")
    change = f"/archive/people/{person.pk}/change/"
    with (testdata / "enrol" / "train" / "obama" / "obama.jpg").open("rb") as photo:
        response = alice_client.post(change, {"action": "add_photo", "image": photo}, follow=True)
    assert "The face was enrolled" in response.content.decode()
    signature = PersonSignature.objects.get(person=person)
    with (testdata / "scenes" / "no_face_coffee.jpg").open("rb") as photo:
        response = alice_client.post(change, {"action": "add_photo", "image": photo}, follow=True)
    assert "No face was found in the photo." in response.content.decode()
    alice_client.post(change, {"action": "remove_photo", "photo": str(signature.pk)})
    assert not PersonSignature.objects.filter(person=person).exists()


@pytest.mark.ml
def test_a_face_of_a_saved_analysis_is_enrolled_from_its_page(
    alice_client: Client, alice: User, bob: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    saved = save_for(alice)
    person = Person.objects.create(owner=alice, name="Eileen Collins")
    detail = f"/archive/{saved.pk}/"
    # Off: no form.
    assert 'id="enrol-form"' not in alice_client.get(detail).content.decode()
    _consent(alice)
    page = alice_client.get(detail).content.decode()
    assert 'id="enrol-form"' in page
    assert '<option value="1">2</option>' in page  # faces numbered from 1, as on the picture
    form = {"analysis": str(saved.pk), "face": "1", "person": str(person.pk)}
    response = alice_client.post("/archive/people/enrol-face/", form, follow=True)
    assert response.redirect_chain[-1][0] == f"/archive/people/{person.pk}/"
    assert "Face 2 of that analysis was enrolled as Eileen Collins." in response.content.decode()
    enrolled = PersonSignature.objects.get(person=person)
    assert enrolled.source == PersonSignature.Source.ARCHIVE
    assert enrolled.box == saved.faces.get(index=1).box
    # Someone else's person, or someone else's analysis into one's own person, is not found.
    other = Client()
    login_verified(other, bob)
    _consent(bob)
    assert other.post("/archive/people/enrol-face/", form).status_code == 404
    theirs = Person.objects.create(owner=bob, name="Someone")
    stolen = {**form, "person": str(theirs.pk)}
    assert other.post("/archive/people/enrol-face/", stolen).status_code == 404
    assert not PersonSignature.objects.filter(person=theirs).exists()
    # Numbers that are not numbers are not found either (no server error).
    for bad in ({"person": "abc"}, {"face": "²"}, {"analysis": "-1"}, {"face": ""}):
        assert alice_client.post("/archive/people/enrol-face/", {**form, **bad}).status_code == 404
    assert PersonSignature.objects.filter(person=person).count() == 1
