from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from analysis.ml import loaders as ml_models
from analysis.ml.types import Box
from archive.models import SavedAnalysis
from tests.analysis.fakes import FakeDetector, fake_scorer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def test_analyze_can_save_to_the_archive(
    api: APIClient, alice: User, testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        ml_models, "detector", lambda name, threads=2: FakeDetector([Box(10, 10, 100, 100)])
    )
    monkeypatch.setattr(ml_models, "emotion_classifier", lambda **_: fake_scorer())
    with (testdata / "scenes" / "astronaut.png").open("rb") as image:
        body = api.post(
            "/api/v1/analyze",
            {"image": image, "save": "true", "name": "Astronaut 🚀"},
            format="multipart",
        ).json()
    saved = SavedAnalysis.objects.get(pk=body["analysis_id"])
    assert saved.owner == alice
    assert saved.name == "Astronaut 🚀"
    assert saved.annotated
    # One shape: the saved faces read exactly as the live answer gave them, field for field,
    # in the API and in the JSON export alike.
    detail = api.get(f"/api/v1/analyses/{saved.pk}").json()
    assert detail["faces"] == body["faces"]
    assert set(detail["faces"][0]) >= {"score", "landmarks", "found_by", "quality", "spread"}
    exported = json.loads(_body(api.get(f"/api/v1/analyses/export/json?ids={saved.pk}")))
    assert exported["analyses"][0]["faces"] == body["faces"]
    with (testdata / "scenes" / "astronaut.png").open("rb") as image:
        body = api.post(
            "/api/v1/analyze",
            {"image": image, "save": "true", "keep_image": "false"},
            format="multipart",
        ).json()
    assert not SavedAnalysis.objects.get(pk=body["analysis_id"]).original


def test_list_is_paginated_newest_first_and_filterable(
    api: APIClient, alice: User, bob: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    for i in range(3):
        save_for(alice, f"mine {i}")
    save_for(bob, "not mine")
    body = api.get("/api/v1/analyses").json()
    assert body["count"] == 3
    assert [item["name"] for item in body["results"]] == ["mine 2", "mine 1", "mine 0"]
    assert body["results"][0]["images"]["annotated"].endswith("/images/annotated")
    assert api.get("/api/v1/analyses?q=1").json()["count"] == 1
    assert api.get("/api/v1/analyses?emotion=sad").json()["count"] == 0
    error = api.get("/api/v1/analyses?emotion=joy").json()["error"]
    assert error["code"] == "validation_error"


def test_get_patch_delete_one(
    api: APIClient, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    saved = save_for(alice, "before")
    url = f"/api/v1/analyses/{saved.pk}"
    assert api.get(url).json()["faces"][0]["box"] == [40, 60, 150, 150]
    assert api.patch(url, {"name": "after"}, format="json").json()["name"] == "after"
    assert api.patch(url, {"name": ""}, format="json").status_code == 400
    image = api.get(f"{url}/images/original")
    assert image.status_code == 200
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


def test_another_users_analysis_answers_404(
    api: APIClient, bob: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    theirs = save_for(bob, "bob's")
    url = f"/api/v1/analyses/{theirs.pk}"
    assert api.get(url).status_code == 404
    assert api.get(url).json()["error"]["code"] == "not_found"
    assert api.patch(url, {"name": "x"}, format="json").status_code == 404
    assert api.delete(url).status_code == 404
    assert api.get(f"{url}/images/original").status_code == 404
    exported = api.get(f"/api/v1/analyses/export/json?ids={theirs.pk}")
    # An export of another user's ids is an empty export, not an error and not their data.
    assert exported.status_code == 200
    assert json.loads(_body(exported)) == {"analyses": []}
    assert SavedAnalysis.objects.filter(pk=theirs.pk, name="bob's").exists()


def _body(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def test_export_formats(
    api: APIClient, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    saved = save_for(alice, "one")
    save_for(alice, "other")
    rows = list(
        csv.DictReader(
            io.StringIO(
                _body(api.get(f"/api/v1/analyses/export/csv?ids={saved.pk}")).decode("utf-8-sig")
            )
        )
    )
    # One row per face of the chosen analysis, with its scores.
    assert [row["name"] for row in rows] == ["one", "one"]
    assert float(rows[0]["happy"]) == pytest.approx(0.8, abs=0.01)
    records = json.loads(_body(api.get(f"/api/v1/analyses/export/json?ids={saved.pk}")))
    assert [record["name"] for record in records["analyses"]] == ["one"]
    assert len(records["analyses"][0]["faces"]) == 2
    response = api.get(f"/api/v1/analyses/export/zip?ids={saved.pk}")
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(_body(response))) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(
            [
                "analyses.json",
                "faces.csv",
                f"images/{saved.pk}-original.jpg",
                f"images/{saved.pk}-annotated.jpg",
            ]
        )
        assert archive.read(f"images/{saved.pk}-original.jpg")[:3] == b"\xff\xd8\xff"
        assert json.loads(archive.read("analyses.json"))["analyses"][0]["name"] == "one"
    assert api.get("/api/v1/analyses/export/xls").status_code == 400


def test_anonymous_clients_get_nothing(save_for: Callable[..., SavedAnalysis], alice: User) -> None:
    saved = save_for(alice)
    for url in (
        "/api/v1/analyses",
        f"/api/v1/analyses/{saved.pk}",
        "/api/v1/analyses/export/csv",
    ):
        assert APIClient().get(url).status_code in (401, 403)


def test_a_shown_result_is_saved_as_it_is_without_analysing_again(
    api: APIClient, alice: User, testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = FakeDetector([Box(10, 10, 100, 100), Box(300, 40, 120, 120)])
    monkeypatch.setattr(ml_models, "detector", lambda name, threads=2: detector)
    monkeypatch.setattr(ml_models, "emotion_classifier", lambda **_: fake_scorer())
    picture = testdata / "scenes" / "astronaut.png"
    with picture.open("rb") as image:
        shown = api.post("/api/v1/analyze", {"image": image, "faces": "1"}, format="multipart")
    shown = shown.json()
    calls = len(detector.calls)

    def save(result: object, **fields: str) -> Any:
        with picture.open("rb") as image:
            return api.post(
                "/api/v1/analyses",
                {"image": image, "result": json.dumps(result), **fields},
                format="multipart",
            )

    response = save(shown, name="As shown")
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "As shown"
    assert body["faces"] == shown["faces"]
    assert [face["index"] for face in body["faces"]] == [1]
    assert len(detector.calls) == calls  # nothing was detected or scored again
    assert SavedAnalysis.objects.get(pk=body["id"]).annotated

    # A result that does not fit the picture, or is not a result, is refused; nothing is saved.
    bad_size = {**shown, "image": {"width": 10, "height": 10}}
    outside = {**shown, "faces": [{**shown["faces"][0], "box": [500, 500, 100, 100]}]}
    no_emotions = {**shown, "faces": [{**shown["faces"][0], "emotions": {"happy": 1.0}}]}
    huge_models = {**shown, "models": {f"model {i}": "x" for i in range(1000)}}
    for result in (bad_size, outside, no_emotions, huge_models, ["not", "a", "result"]):
        refused = save(result)
        assert refused.status_code == 400, result
        assert refused.json()["error"]["code"] == "validation_error"
    with picture.open("rb") as image:
        not_json = api.post(
            "/api/v1/analyses", {"image": image, "result": "{oops"}, format="multipart"
        )
    assert not_json.status_code == 400
    assert SavedAnalysis.objects.count() == 1


def test_faces_marked_by_hand_are_scored_after_the_detected_ones(
    api: APIClient, alice: User, testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        ml_models, "detector", lambda name, threads=2: FakeDetector([Box(300, 40, 120, 120)])
    )
    monkeypatch.setattr(ml_models, "emotion_classifier", lambda **_: fake_scorer())
    with (testdata / "scenes" / "astronaut.png").open("rb") as image:
        body = api.post(
            "/api/v1/analyze",
            {"image": image, "boxes": "10,20,80,90;400,400,500,500"},
            format="multipart",
        ).json()
    assert [face["found_by"] for face in body["faces"]] == ["detected", "manual", "manual"]
    assert [face["index"] for face in body["faces"]] == [0, 1, 2]
    assert body["faces"][1]["box"] == [10, 20, 80, 90]
    # Clipped to the 512 x 512 picture.
    assert body["faces"][2]["box"] == [400, 400, 112, 112]
    assert sum(body["faces"][1]["emotions"].values()) == pytest.approx(1, abs=0.01)
    for boxes in ("1,2,3", "600,600,50,50", "10,10,0,5", "inf,0,10,10", "1e400,0,9,9", "1;" * 60):
        with (testdata / "scenes" / "astronaut.png").open("rb") as image:
            refused = api.post(
                "/api/v1/analyze", {"image": image, "boxes": boxes}, format="multipart"
            )
        assert refused.status_code == 400, boxes
        assert refused.json()["error"]["code"] == "validation_error"
