"""People: enrol by name and photos, rename, delete, recognise them; owner-scoped, with consent."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_delete, user_identity_set
from archive.models import Face, Person, PersonSignature, SavedAnalysis

pytestmark = pytest.mark.django_db


def _client(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def api(alice: User) -> APIClient:
    user_identity_set(user=alice, enabled=True)
    return _client(alice)


def _photo(api: APIClient, person_id: int, path: Path, **fields: int):  # type: ignore[no-untyped-def]
    with path.open("rb") as handle:
        return api.post(
            f"/api/v1/people/{person_id}/photos", {"image": handle, **fields}, format="multipart"
        )


def _identify(api: APIClient, path: Path):  # type: ignore[no-untyped-def]
    with path.open("rb") as handle:
        return api.post("/api/v1/identify", {"image": handle}, format="multipart")


def test_enrolling_needs_identity_features_on_but_reading_and_deleting_do_not(
    alice: User,
) -> None:
    client = _client(alice)
    response = client.post("/api/v1/people", {"name": "Rose"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "identity_off"
    assert client.post("/api/v1/identify", {}, format="multipart").status_code == 403
    person = Person.objects.create(owner=alice, name="Kit")
    assert [p["name"] for p in client.get("/api/v1/people").json()] == ["Kit"]
    assert client.post(f"/api/v1/people/{person.pk}/photos", {}).status_code == 403
    assert client.delete(f"/api/v1/people/{person.pk}").status_code == 204
    assert not Person.objects.filter(pk=person.pk).exists()


def test_people_are_created_renamed_and_deleted_by_their_owner_only(
    api: APIClient, bob: User
) -> None:
    created = api.post("/api/v1/people", {"name": "  Rose   Leslie "}, format="json")
    assert created.status_code == 201
    person = created.json()
    assert person["name"] == "Rose Leslie"
    assert person["photo_count"] == 0
    assert person["photos"] == []
    duplicate = api.post("/api/v1/people", {"name": "Rose Leslie"}, format="json")
    assert duplicate.status_code == 400
    assert "already" in duplicate.json()["error"]["message"]
    assert api.post("/api/v1/people", {"name": "   "}, format="json").status_code == 400
    url = f"/api/v1/people/{person['id']}"
    renamed = api.patch(url, {"name": "Rose"}, format="json")
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Rose"

    stranger = _client(bob)
    user_identity_set(user=bob, enabled=True)
    assert stranger.get("/api/v1/people").json() == []
    assert stranger.get(url).status_code == 404
    assert stranger.patch(url, {"name": "Mine"}, format="json").status_code == 404
    assert stranger.delete(url).status_code == 404
    assert stranger.post(f"{url}/photos", {}, format="multipart").status_code == 404
    assert api.get(url).json()["name"] == "Rose"

    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


@pytest.mark.ml
def test_enrolled_people_are_named_in_a_new_photo_and_strangers_are_not(
    api: APIClient, alice: User, testdata: Path
) -> None:
    train = testdata / "enrol" / "train"
    ids = {}
    for name, folder in (("Barack Obama", "obama"), ("Joe Biden", "biden")):
        person = api.post("/api/v1/people", {"name": name}, format="json").json()
        ids[name] = person["id"]
        for photo in sorted((train / folder).iterdir()):
            response = _photo(api, person["id"], photo)
            assert response.status_code == 201, response.json()
            assert response.json()["origin"] == "upload"
            assert len(response.json()["box"]) == 4
    assert api.get(f"/api/v1/people/{ids['Joe Biden']}").json()["photo_count"] == 2

    both = _identify(api, testdata / "enrol" / "test" / "obama_and_biden.jpg")
    assert both.status_code == 200
    body = both.json()
    named = sorted(face["person"]["name"] for face in body["faces"] if face["person"])
    assert named == ["Barack Obama", "Joe Biden"]
    assert all(face["similarity"] >= body["threshold"] for face in body["faces"] if face["person"])

    # Kit Harington and Rose Leslie were never enrolled.
    strangers = _identify(api, testdata / "enrol" / "test" / "kit_with_rose.jpg").json()
    assert len(strangers["faces"]) == 2
    assert all(face["person"] is None for face in strangers["faces"])
    assert all(face["similarity"] < strangers["threshold"] for face in strangers["faces"])

    # Deleting a person deletes their signatures: they are not recognised any more.
    assert api.delete(f"/api/v1/people/{ids['Joe Biden']}").status_code == 204
    assert PersonSignature.objects.filter(person__owner=alice).count() == 2
    again = _identify(api, testdata / "enrol" / "test" / "obama_and_biden.jpg").json()
    assert sorted(f["person"]["name"] for f in again["faces"] if f["person"]) == ["Barack Obama"]

    # Deleting the account deletes its people.
    user_delete(user=alice)
    assert not PersonSignature.objects.exists()


@pytest.mark.ml
def test_a_photo_of_several_people_needs_the_face_to_enrol(api: APIClient, testdata: Path) -> None:
    person = api.post("/api/v1/people", {"name": "Rose Leslie"}, format="json").json()
    photo = testdata / "enrol" / "test" / "kit_with_rose.jpg"
    unsure = _photo(api, person["id"], photo)
    assert unsure.status_code == 400
    assert "2 faces" in unsure.json()["error"]["message"]
    assert _photo(api, person["id"], photo, face=5).status_code == 400
    assert _photo(api, person["id"], photo, face=1).status_code == 201
    no_face = _photo(api, person["id"], testdata / "scenes" / "no_face_coffee.jpg")
    assert no_face.status_code == 400
    assert no_face.json()["error"]["code"] == "no_face"
    stored = api.get(f"/api/v1/people/{person['id']}").json()
    assert stored["photo_count"] == 1
    signature = stored["photos"][0]["id"]
    assert api.delete(f"/api/v1/people/{person['id']}/photos/{signature}").status_code == 204
    assert api.get(f"/api/v1/people/{person['id']}").json()["photo_count"] == 0


def _save(api: APIClient, path: Path) -> int:
    with path.open("rb") as handle:
        response = api.post(
            "/api/v1/analyze", {"image": handle, "save": "true", "tta": 1}, format="multipart"
        )
    assert response.status_code == 200, response.json()
    return int(response.json()["analysis_id"])


@pytest.mark.ml
def test_a_person_is_followed_across_the_saved_analyses(
    api: APIClient, alice: User, bob: User, testdata: Path
) -> None:
    enrol = testdata / "enrol"
    obama = api.post("/api/v1/people", {"name": "Barack Obama"}, format="json").json()
    assert _photo(api, obama["id"], enrol / "train" / "obama" / "obama.jpg").status_code == 201
    # Saved while identity features were off: no signature, so not searched until indexed.
    user_identity_set(user=alice, enabled=False)
    early = _save(api, enrol / "test" / "obama1.jpg")
    user_identity_set(user=alice, enabled=True)
    together = _save(api, enrol / "test" / "obama_and_biden.jpg")
    _save(api, enrol / "test" / "kit_with_rose.jpg")

    url = f"/api/v1/people/{obama['id']}/appearances"
    body = api.get(url).json()
    assert body["unindexed_faces"] == 1
    assert [item["analysis_id"] for item in body["appearances"]] == [together]
    assert body["summary"]["count"] == 1

    call_command("people_index", "--email", alice.email, stdout=io.StringIO())
    body = api.get(url).json()
    assert body["unindexed_faces"] == 0
    assert [item["analysis_id"] for item in body["appearances"]] == [early, together]
    summary = body["summary"]
    assert summary["count"] == 2
    assert summary["photos"] == 2
    assert summary["dominant_emotion"] in summary["distribution"]
    assert sum(summary["distribution"].values()) == pytest.approx(1.0)
    assert sum(summary["mean_emotions"].values()) == pytest.approx(1.0, abs=0.01)
    assert summary["text"].startswith("Barack Obama: mostly ")
    assert all(item["similarity"] >= body["threshold"] for item in body["appearances"])

    # Another user's person is not theirs to follow.
    user_identity_set(user=bob, enabled=True)
    assert _client(bob).get(url).status_code == 404


@pytest.mark.ml
def test_a_selfie_finds_its_person_in_a_collection(
    api: APIClient, alice: User, bob: User, testdata: Path
) -> None:
    from archive.models import Collection, SavedAnalysis

    test = testdata / "enrol" / "test"
    saved = [_save(api, test / name) for name in ("obama1.jpg", "obama_and_biden.jpg")]
    elsewhere = _save(api, test / "kit_with_rose.jpg")
    collection = Collection.objects.create(owner=alice, name="Event")
    SavedAnalysis.objects.filter(pk__in=saved).update(collection=collection)
    url = f"/api/v1/collections/{collection.pk}/find"

    def find(client: APIClient, selfie: Path):  # type: ignore[no-untyped-def]
        with selfie.open("rb") as handle:
            return client.post(url, {"image": handle}, format="multipart")

    body = find(api, testdata / "enrol" / "train" / "obama" / "obama2.jpg").json()
    assert body["person"] is None
    assert [item["analysis_id"] for item in body["appearances"]] == saved
    assert elsewhere not in [item["analysis_id"] for item in body["appearances"]]
    assert body["summary"]["photos"] == 2
    assert body["summary"]["text"].startswith("The person of the selfie: mostly ")

    nobody = find(api, testdata / "enrol" / "train" / "alex_lacamoire" / "img1.jpg").json()
    assert nobody["appearances"] == []
    assert nobody["summary"]["count"] == 0
    assert nobody["summary"]["text"] == "The person of the selfie: not found."

    user_identity_set(user=bob, enabled=True)
    assert (
        find(_client(bob), testdata / "enrol" / "train" / "obama" / "obama2.jpg").status_code == 404
    )


@pytest.mark.ml
def test_the_analysis_names_enrolled_people_only_with_identity_features_on(
    api: APIClient, alice: User, testdata: Path
) -> None:
    obama = api.post("/api/v1/people", {"name": "Barack Obama"}, format="json").json()
    assert (
        _photo(api, obama["id"], testdata / "enrol" / "train" / "obama" / "obama.jpg").status_code
        == 201
    )

    def analyse() -> list[dict[str, object]]:
        with (
            (testdata / "enrol" / "test" / "kit_with_rose.jpg").open("rb") as strangers,
            (testdata / "enrol" / "test" / "obama1.jpg").open("rb") as photo,
        ):
            faces = []
            for handle in (photo, strangers):
                response = api.post(
                    "/api/v1/analyze", {"image": handle, "tta": 1}, format="multipart"
                )
                assert response.status_code == 200
                faces += response.json()["faces"]
            return faces

    faces = analyse()
    assert faces[0]["person"] == {"id": obama["id"], "name": "Barack Obama"}
    assert [face["person"] for face in faces[1:]] == [None, None]
    user_identity_set(user=alice, enabled=False)
    assert all("person" not in face for face in analyse())


def test_the_archives_zip_export_holds_the_people_without_their_signatures(
    api: APIClient, alice: User, bob: User
) -> None:
    import json
    import zipfile

    import numpy as np

    person = Person.objects.create(owner=alice, name="Rose")
    vector = np.ones(128, dtype=np.float32) / np.sqrt(128)
    PersonSignature.objects.create(
        person=person, vector=vector.tobytes(), model="dlib-resnet", box=[1, 2, 30, 40]
    )
    Person.objects.create(owner=bob, name="Not alice's")
    response = api.get("/api/v1/analyses/export/zip")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        exported = json.loads(archive.read("people.json"))
    assert exported["people"] == [
        {
            "name": "Rose",
            "created": person.created.isoformat(),
            "enrolled_faces": [{"box": [1, 2, 30, 40], "origin": "upload", "model": "dlib-resnet"}],
        }
    ]


@pytest.mark.ml
def test_a_face_already_in_the_archive_is_enrolled_from_its_analysis(
    api: APIClient, alice: User, bob: User, testdata: Path
) -> None:
    enrol = testdata / "enrol"
    obama = api.post("/api/v1/people", {"name": "Barack Obama"}, format="json").json()
    url = f"/api/v1/people/{obama['id']}/photos"
    # Saved with identity features on: the face's stored signature is enrolled as it is.
    signed = _save(api, enrol / "train" / "obama" / "obama.jpg")
    response = api.post(url, {"analysis": signed, "face": 0}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["origin"] == "archive"
    stored = Face.objects.get(analysis_id=signed, index=0)
    enrolled = PersonSignature.objects.get(pk=response.json()["id"])
    assert bytes(enrolled.vector) == bytes(stored.signature)
    assert enrolled.box == stored.box
    # Saved while they were off: signed now from the kept picture, and the face keeps it.
    user_identity_set(user=alice, enabled=False)
    unsigned = _save(api, enrol / "train" / "obama" / "obama2.jpg")
    user_identity_set(user=alice, enabled=True)
    assert Face.objects.get(analysis_id=unsigned).signature is None
    assert api.post(url, {"analysis": unsigned, "face": 0}, format="json").status_code == 201
    assert Face.objects.get(analysis_id=unsigned).signature is not None
    # Enrolled from the archive alone, Obama is recognised in a new photo.
    both = _identify(api, enrol / "test" / "obama_and_biden.jpg").json()
    assert [f["person"]["name"] for f in both["faces"] if f["person"]] == ["Barack Obama"]

    # A face number the analysis does not have, both sources or neither: 400.
    wrong = api.post(url, {"analysis": signed, "face": 3}, format="json")
    assert wrong.status_code == 400
    assert "numbered 0 to 0" in wrong.json()["error"]["message"]
    assert api.post(url, {"analysis": signed}, format="json").status_code == 400
    assert api.post(url, {}, format="json").status_code == 400
    # Another user's analysis is not found, nor is one of theirs enrolled into her person.
    user_identity_set(user=bob, enabled=True)
    theirs = _save(_client(bob), enrol / "test" / "obama1.jpg")
    assert api.post(url, {"analysis": theirs, "face": 0}, format="json").status_code == 404
    assert _client(bob).post(url, {"analysis": signed, "face": 0}, format="json").status_code == 404
    assert api.get(f"/api/v1/people/{obama['id']}").json()["photo_count"] == 2


@pytest.mark.ml
def test_a_saved_face_with_neither_picture_nor_signature_cannot_be_enrolled(
    api: APIClient, alice: User, testdata: Path
) -> None:
    person = api.post("/api/v1/people", {"name": "Alex"}, format="json").json()
    user_identity_set(user=alice, enabled=False)
    with (testdata / "enrol" / "test" / "alex_lacamoire1.jpg").open("rb") as handle:
        saved = api.post(
            "/api/v1/analyze",
            {"image": handle, "save": "true", "tta": 1, "keep_image": "false"},
            format="multipart",
        ).json()["analysis_id"]
    user_identity_set(user=alice, enabled=True)
    response = api.post(
        f"/api/v1/people/{person['id']}/photos", {"analysis": saved, "face": 0}, format="json"
    )
    assert response.status_code == 400
    assert "kept neither its picture" in response.json()["error"]["message"]
    assert not PersonSignature.objects.exists()


@pytest.mark.ml
def test_with_identity_on_an_analysis_gives_each_face_a_liveness_signal(
    api: APIClient, alice: User, testdata: Path
) -> None:
    from analysis.ml.liveness import LIVE_THRESHOLD

    def analyse() -> dict:  # type: ignore[type-arg]
        with (testdata / "enrol" / "test" / "kit_with_rose.jpg").open("rb") as handle:
            response = api.post("/api/v1/analyze", {"image": handle, "tta": 1}, format="multipart")
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]

    faces = analyse()["faces"]
    assert len(faces) == 2
    for face in faces:
        score = face["liveness"]["score"]
        assert 0 <= score <= 1
        if abs(score - LIVE_THRESHOLD) > 1e-3:  # the score is rounded to 4 places
            assert face["liveness"]["live"] is (score >= LIVE_THRESHOLD)
    user_identity_set(user=alice, enabled=False)
    assert all("liveness" not in face and "person" not in face for face in analyse()["faces"])


@pytest.mark.ml
def test_an_analysis_without_its_liveness_signal_still_answers(
    api: APIClient, testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analysis.ml import loaders

    def broken(**kwargs: object) -> None:
        raise RuntimeError("the liveness network failed")

    monkeypatch.setattr(loaders, "liveness_model", broken)
    with (testdata / "enrol" / "test" / "obama1.jpg").open("rb") as handle:
        response = api.post(
            "/api/v1/analyze", {"image": handle, "tta": 1, "save": "true"}, format="multipart"
        )
    assert response.status_code == 200
    body = response.json()
    assert "liveness" not in body["faces"][0]
    assert body["faces"][0]["person"] is None  # still named (nobody enrolled)
    assert body["analysis_id"]


def test_a_picture_read_whole_for_want_of_a_face_is_not_enrolled(
    api: APIClient, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    saved = save_for(alice)
    saved.faces.filter(index=0).update(found_by="whole_image")
    person = api.post("/api/v1/people", {"name": "Nobody"}, format="json").json()
    response = api.post(
        f"/api/v1/people/{person['id']}/photos", {"analysis": saved.pk, "face": 0}, format="json"
    )
    assert response.status_code == 400
    assert "no face was found" in response.json()["error"]["message"]
    assert not PersonSignature.objects.exists()


def test_the_gallery_version_changes_with_the_owners_people_and_their_faces_only(
    alice: User, bob: User
) -> None:
    from archive.people import gallery_version

    def enrol(person: Person) -> PersonSignature:
        return PersonSignature.objects.create(
            person=person, vector=bytes(512), model="dlib-resnet", box=[0, 0, 10, 10]
        )

    versions = [gallery_version(alice)]
    rose = Person.objects.create(owner=alice, name="Rose")
    versions.append(gallery_version(alice))
    first = enrol(rose)
    versions.append(gallery_version(alice))
    rose.name = "Rosa"
    rose.save()
    versions.append(gallery_version(alice))
    # The same number of faces, but another one: the camera must read them again.
    first.delete()
    enrol(rose)
    versions.append(gallery_version(alice))
    assert len(set(versions)) == len(versions)
    # Bob's people are not alice's gallery.
    enrol(Person.objects.create(owner=bob, name="Kit"))
    assert gallery_version(alice) == versions[-1]
    rose.delete()
    assert gallery_version(alice) == versions[0]
