"""POST /api/v1/verify and /api/v1/liveness: on real photos, with the user's consent."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def consenting(alice: User) -> User:
    alice.identity_enabled = True
    alice.save(update_fields=["identity_enabled"])
    return alice


def _verify(api: APIClient, a: Path, b: Path):  # type: ignore[no-untyped-def]
    with a.open("rb") as first, b.open("rb") as second:
        return api.post("/api/v1/verify", {"image_a": first, "image_b": second}, format="multipart")


def test_identity_features_are_off_until_the_user_turns_them_on(
    api: APIClient, testdata: Path
) -> None:
    people = testdata / "people"
    response = _verify(api, people / "Ari_Fleischer_0001.jpg", people / "Ari_Fleischer_0002.jpg")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "identity_off"
    # Turned on through the API, the request gets past the check (to the picture's own error).
    assert api.patch("/api/v1/me", {"identity_enabled": True}, format="json").status_code == 200
    assert api.get("/api/v1/me").json()["identity_enabled"] is True
    with (people / "Ari_Fleischer_0001.jpg").open("rb") as photo:
        response = api.post(
            "/api/v1/verify", {"image_a": photo, "image_b": b""}, format="multipart"
        )
    assert response.json()["error"]["code"] != "identity_off"
    assert response.status_code == 400


@pytest.mark.ml
def test_two_photos_of_one_person_are_the_same_and_of_two_people_are_not(
    api: APIClient, consenting: User, testdata: Path
) -> None:
    people = testdata / "people"
    same = _verify(api, people / "Ari_Fleischer_0001.jpg", people / "Ari_Fleischer_0003.jpg")
    assert same.status_code == 200, same.json()
    body = same.json()
    assert body["same"] is True
    assert body["similarity"] >= body["threshold"]
    assert body["model"] == "dlib-resnet"
    assert len(body["faces"]) == 2
    assert all(len(box) == 4 for box in body["faces"])
    other = _verify(api, people / "Ari_Fleischer_0001.jpg", people / "Antony_Leung_0001.jpg")
    assert other.status_code == 200
    assert other.json()["same"] is False
    assert other.json()["similarity"] < body["similarity"]
    assert other.json()["threshold"] == body["threshold"]


@pytest.mark.ml
def test_a_new_photo_matches_its_persons_enrolment_photo_only(
    api: APIClient, consenting: User, testdata: Path
) -> None:
    enrol = testdata / "enrol"
    response = _verify(api, enrol / "train" / "obama" / "obama.jpg", enrol / "test" / "obama1.jpg")
    assert response.status_code == 200
    assert response.json()["same"] is True
    response = _verify(api, enrol / "train" / "biden" / "biden.jpg", enrol / "test" / "obama1.jpg")
    assert response.json()["same"] is False


@pytest.mark.ml
def test_a_picture_without_a_face_is_a_clear_400(
    api: APIClient, consenting: User, testdata: Path
) -> None:
    people = testdata / "people"
    response = _verify(
        api, people / "Ari_Fleischer_0001.jpg", testdata / "scenes" / "no_face_coffee.jpg"
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "no_face",
        "message": "No face was found in image_b.",
    }


def test_not_a_picture_or_no_picture_is_a_clear_400(
    api: APIClient, consenting: User, testdata: Path, tmp_path: Path
) -> None:
    people = testdata / "people"
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    response = _verify(api, text, people / "Ari_Fleischer_0001.jpg")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_image"
    missing = api.post("/api/v1/verify", {}, format="multipart")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "validation_error"


def test_anonymous_clients_are_refused(testdata: Path) -> None:
    people = testdata / "people"
    response = _verify(
        APIClient(), people / "Ari_Fleischer_0001.jpg", people / "Ari_Fleischer_0002.jpg"
    )
    assert response.status_code == 401


def test_a_form_patch_of_the_profile_keeps_identity_features_on(
    api: APIClient, consenting: User
) -> None:
    # A form without the field must not read as "off".
    response = api.patch("/api/v1/me", {"username": "alice2"}, format="multipart")
    assert response.status_code == 200
    assert response.json()["identity_enabled"] is True
    consenting.refresh_from_db()
    assert consenting.identity_enabled is True


def test_a_picture_analysed_whole_for_want_of_a_face_is_not_a_face_to_compare(
    api: APIClient,
    consenting: User,
    testdata: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cv2

    from analysis.ml import loaders
    from analysis.ml.images import decode_image
    from analysis.ml.pipeline import detect
    from tests.analysis.fakes import FakeDetector

    detector = FakeDetector([])
    monkeypatch.setattr(loaders, "detector", lambda name, threads=2: detector)
    monkeypatch.setattr(loaders, "face_embedder", lambda: pytest.fail("nothing to sign"))
    # The face of a portrait, cut tight and small: the pipeline reads such a crop whole.
    photo = decode_image((testdata / "scenes" / "astronaut.png").read_bytes()).pixels
    crop = photo[60:190, 165:290]
    assert [face.how for face in detect(crop, detector)] == ["whole_image"]
    path = tmp_path / "crop.png"
    cv2.imwrite(str(path), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    response = _verify(api, path, path)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_face"


def _liveness(api: APIClient, photo: Path):  # type: ignore[no-untyped-def]
    with photo.open("rb") as stream:
        return api.post("/api/v1/liveness", {"image": stream}, format="multipart")


def test_liveness_needs_identity_features_on(api: APIClient, testdata: Path) -> None:
    response = _liveness(api, testdata / "people" / "Ari_Fleischer_0001.jpg")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "identity_off"
    assert _liveness(APIClient(), testdata / "people" / "Ari_Fleischer_0001.jpg").status_code == 401


@pytest.mark.ml
def test_liveness_scores_every_face_against_its_threshold(
    api: APIClient, consenting: User, testdata: Path
) -> None:
    response = _liveness(api, testdata / "groups" / "2008_001322.jpg")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["model"] == "human-antispoof"
    assert 0 < body["threshold"] < 1
    assert len(body["faces"]) >= 3
    xs = [face["box"][0] for face in body["faces"]]
    assert xs == sorted(xs)
    for face in body["faces"]:
        assert len(face["box"]) == 4
        assert 0 <= face["score"] <= 1
        if abs(face["score"] - body["threshold"]) > 1e-3:  # the score is rounded to 4 places
            assert face["live"] is (face["score"] >= body["threshold"])


@pytest.mark.ml
def test_liveness_of_a_picture_without_a_face_or_not_a_picture_is_a_clear_400(
    api: APIClient, consenting: User, testdata: Path, tmp_path: Path
) -> None:
    response = _liveness(api, testdata / "scenes" / "no_face_coffee.jpg")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "no_face",
        "message": "No face was found in the picture.",
    }
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    assert _liveness(api, text).json()["error"]["code"] == "invalid_image"
    missing = api.post("/api/v1/liveness", {}, format="multipart")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "validation_error"


@pytest.mark.ml
def test_liveness_without_its_weights_answers_503_naming_the_file(
    api: APIClient,
    consenting: User,
    testdata: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from analysis.ml import loaders
    from analysis.ml.liveness import AntispoofNet

    monkeypatch.setattr(
        loaders, "liveness_model", lambda **kwargs: AntispoofNet(models_dir=tmp_path)
    )
    response = _liveness(api, testdata / "people" / "Ari_Fleischer_0001.jpg")
    assert response.status_code == 503
    message = response.json()["error"]["message"]
    assert "antispoof.bin" in message
    assert str(tmp_path) not in message
