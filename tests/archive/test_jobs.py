"""Jobs end to end: the API, a real Celery worker process on the test Redis and MariaDB, and
the progress events through the channel layer and the /ws/jobs/ websocket."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_token_create
from archive.models import Collection, Job, SavedAnalysis
from fersite.asgi import application
from tests.conftest import CeleryWorker, login_verified
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clip(testdata: Path) -> bytes:
    return (testdata / "video" / "short_hamilton_clip.mp4").read_bytes()


@pytest.fixture
def api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def _submit(api: APIClient, kind: str, *files: tuple[str, bytes], **fields: Any) -> Any:
    uploads = [SimpleUploadedFile(name, data) for name, data in files]
    body: dict[str, Any] = {"kind": kind, **fields}
    if kind == "batch" and len(uploads) > 1:
        body["files"] = uploads
    elif uploads:
        body["file"] = uploads[0]
    return api.post("/api/v1/jobs", body, format="multipart")


def _wait(api: APIClient, job_id: int, until: Any, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        if until(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never got there: {job}")


def _finished(job: dict[str, Any]) -> bool:
    return job["state"] in ("done", "failed", "cancelled")


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _photos(testdata: Path, count: int) -> dict[str, bytes]:
    paths = sorted((testdata / "faces").glob("*.jpg"))[:count]
    return {path.name: path.read_bytes() for path in paths}


async def _events_until_finished(
    communicator: WebsocketCommunicator, job_id: int, timeout: float = 120
) -> list[dict[str, Any]]:
    events = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await communicator.receive_json_from(timeout=timeout)
        assert message["type"] == "job"
        if message["job"]["id"] != job_id:
            continue
        events.append({**message["job"], "at": time.monotonic()})
        if _finished(message["job"]):
            return events
    raise AssertionError(f"no final event: {events}")


async def test_a_video_job_runs_on_the_worker_with_progress_in_order(
    alice: User, job_media: CeleryWorker, clip: bytes
) -> None:
    token = await sync_to_async(api_token_create)(user=alice, name="jobs")
    communicator = WebsocketCommunicator(
        application, "/ws/jobs/", headers=[(b"authorization", f"Token {token.key}".encode())]
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    submitted = time.monotonic()
    response = await sync_to_async(_submit)(api, "video", ("clip.mp4", clip), fps="5")
    assert response.status_code == 202, response.json()
    job_id = response.json()["id"]
    assert response.json()["state"] == "queued"

    events = await _events_until_finished(communicator, job_id)
    await communicator.disconnect()
    states = [event["state"] for event in events]
    assert states[-1] == "done", events[-1]
    # queued, then running with progress that never goes back, then done.
    order = {"queued": 0, "running": 1, "done": 2}
    assert [order[s] for s in states] == sorted(order[s] for s in states)
    running = [event["progress"] for event in events if event["state"] == "running"]
    assert running == sorted(running)
    assert len(running) >= 5
    first_progress = next(event["at"] for event in events if event["state"] == "running")
    # Floors are benchmarks' business; this only catches a page that would wait for the end.
    assert first_progress - submitted < 30

    job = (await sync_to_async(api.get)(f"/api/v1/jobs/{job_id}")).json()
    result = job["result"]
    assert result["fps"] == 5
    assert 9.0 < result["duration"] < 9.3
    assert 44 <= len(result["frames"]) <= 47
    times = [frame["t"] for frame in result["frames"]]
    assert times == sorted(times)
    # The clip shows seven people (one of them twice, far and near); tracks stay well under
    # twice that, and the four people of the last shot are four tracks seen to its end.
    assert 4 <= len(result["tracks"]) <= 14
    last = result["frames"][-1]
    assert len({face["track"] for face in last["faces"]}) == len(last["faces"]) == 4
    for frame in result["frames"]:
        for face in frame["faces"]:
            assert abs(sum(face["emotions"].values()) - 1) < 0.01
    csv_response = await sync_to_async(api.get)(f"/api/v1/jobs/{job_id}/export/csv")
    rows = (
        b"".join(
            csv_response.streaming_content if csv_response.streaming else [csv_response.content]
        )
        .decode()
        .splitlines()
    )
    assert rows[0].split(",")[:6] == ["t", "track", "x", "y", "w", "h"]
    assert len(rows) - 1 == sum(len(frame["faces"]) for frame in result["frames"])
    video = await sync_to_async(api.get)(
        f"/api/v1/jobs/{job_id}/files/video", HTTP_RANGE="bytes=0-99"
    )
    assert video.status_code == 206
    assert video["Content-Range"] == f"bytes 0-99/{len(clip)}"


def test_an_enhancement_job_shows_each_step_and_keeps_before_and_after(
    api: APIClient, job_media: CeleryWorker, testdata: Path
) -> None:
    photo = (testdata / "faces" / "Alain_Cervantes_0001.jpg").read_bytes()
    response = _submit(api, "enhance", ("face.jpg", photo), enhance="realesrgan", tta="2")
    assert response.status_code == 202, response.json()
    job_id = response.json()["id"]
    messages = set()

    def watch(job: dict[str, Any]) -> bool:
        messages.add(job["message"])
        return _finished(job)

    job = _wait(api, job_id, watch)
    assert job["state"] == "done", job["error"]
    # Real-ESRGAN reports each tile of each face, with the time left.
    assert any(re.search(r"Face 1 of \d+, step 1 of \d+; about \d+ s left", m) for m in messages)
    assert job["result"]["faces_enhanced"] == len(job["result"]["faces"]) >= 1
    assert job["result"]["models"]["enhancer"] == "realesrgan"
    for side in ("before", "after"):
        picture = api.get(f"/api/v1/jobs/{job_id}/files/face0-{side}")
        assert picture.status_code == 200
        assert b"".join(picture.streaming_content)[:2] == b"\xff\xd8"


def test_a_batch_is_saved_as_a_collection_with_its_csv(
    api: APIClient, alice: User, job_media: CeleryWorker, testdata: Path
) -> None:
    photos = _photos(testdata, 3)
    photos["notes.jpg"] = b"not a picture"
    response = _submit(api, "batch", ("photos.zip", _zip(photos)), tta="1")
    assert response.status_code == 202, response.json()
    job = _wait(api, response.json()["id"], _finished)
    assert job["state"] == "done", job["error"]
    result = job["result"]
    assert result["photos"] == 4
    assert result["analysed"] == 3
    assert [item["name"] for item in result["skipped"]] == ["notes.jpg"]
    assert sum(result["dominant_emotions"].values()) == result["faces"] >= 3
    saved = SavedAnalysis.objects.filter(owner=alice, collection_id=result["collection"])
    assert saved.count() == 3
    assert not saved.filter(pending=True).exists()
    outside = SavedAnalysis.objects.create(
        owner=alice, name="not in the batch", width=1, height=1, detector="auto", passes=1
    )
    page = Client()
    login_verified(page, alice)
    listed = page.get(f"/archive/?collection={result['collection']}").content.decode()
    assert all(name in listed for name in photos if name != "notes.jpg")
    assert outside.name not in listed
    rows = api.get(f"/api/v1/jobs/{job['id']}/export/csv").content.decode("utf-8-sig")
    assert len(rows.strip().splitlines()) == 1 + result["faces"]


def test_a_cancelled_job_stops_and_the_worker_takes_the_next(
    api: APIClient, job_media: CeleryWorker, clip: bytes, testdata: Path
) -> None:
    long_job = _submit(api, "video", ("clip.mp4", clip), fps="30").json()["id"]
    _wait(api, long_job, lambda job: job["state"] == "running" and job["progress"] >= 5)
    cancelled = api.post(f"/api/v1/jobs/{long_job}/cancel").json()
    assert cancelled["state"] == "cancelled"
    stopped_at = time.monotonic()
    # The worker runs one job at a time: the next one starts only once the cancelled one
    # has stopped.
    photo = (testdata / "faces" / "Alain_Cervantes_0001.jpg").read_bytes()
    next_job = _submit(api, "batch", ("one.zip", _zip({"a.jpg": photo})), tta="1").json()["id"]
    _wait(api, next_job, lambda job: job["state"] != "queued", timeout=30)
    assert time.monotonic() - stopped_at < 10
    final = api.get(f"/api/v1/jobs/{long_job}").json()
    assert final["state"] == "cancelled"
    assert final["result"] is None
    _wait(api, next_job, _finished)


def test_a_killed_worker_leaves_the_job_failed_and_nothing_half_saved(
    api: APIClient, alice: User, job_media: CeleryWorker, testdata: Path
) -> None:
    response = _submit(api, "batch", ("many.zip", _zip(_photos(testdata, 40))), tta="10")
    job_id = response.json()["id"]
    try:
        _wait(api, job_id, lambda job: job["state"] == "running" and job["progress"] >= 8)
        assert SavedAnalysis.objects.filter(owner=alice, pending=True).exists()
        job_media.kill()
        job = _wait(api, job_id, _finished, timeout=60)
    finally:
        job_media.kill()
        job_media.start()
    assert job["state"] == "failed"
    assert "stopped" in job["error"]
    assert not SavedAnalysis.objects.filter(owner=alice).exists()
    assert api.get("/api/v1/analyses").json()["count"] == 0


def test_another_users_job_answers_404(api: APIClient, job_media: CeleryWorker) -> None:
    bob = UserFactory(email="bob@example.org", username="bob")
    theirs = Job.objects.create(owner=bob, kind=Job.Kind.VIDEO, state=Job.State.DONE, result={})
    for method, url in (
        ("get", f"/api/v1/jobs/{theirs.pk}"),
        ("post", f"/api/v1/jobs/{theirs.pk}/cancel"),
        ("delete", f"/api/v1/jobs/{theirs.pk}"),
        ("get", f"/api/v1/jobs/{theirs.pk}/export/json"),
        ("get", f"/api/v1/jobs/{theirs.pk}/files/video"),
    ):
        response = getattr(api, method)(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    assert api.get("/api/v1/jobs").json()["count"] == 0


@pytest.mark.parametrize(
    "case",
    [
        (
            "video",
            "notes.mp4",
            lambda clip: b"just some text\n" * 100,
            "invalid_video",
            "not a video",
        ),
        ("video", "cut.mp4", lambda clip: clip[: len(clip) // 3], "invalid_video", "video"),
        ("video", "clip.txt", lambda clip: clip, "validation_error", ".mp4"),
        (
            "batch",
            "bomb.zip",
            lambda clip: _zip({"huge.jpg": b"\0" * (12 * 1024 * 1024)}),
            "validation_error",
            "ZIP bomb",
        ),
        ("batch", "broken.zip", lambda clip: b"PK\x03\x04 nothing more", "validation_error", "ZIP"),
        (
            "batch",
            "empty.zip",
            lambda clip: _zip({"readme.txt": b"hi"}),
            "validation_error",
            "no photos",
        ),
        ("enhance", "x.jpg", lambda clip: b"not a picture", "invalid_image", "image"),
    ],
)
def test_bad_uploads_are_refused_before_anything_is_queued(
    api: APIClient, alice: User, clip: bytes, case: tuple[str, str, Any, str, str]
) -> None:
    kind, name, make, code, words = case
    response = _submit(api, kind, (name, make(clip)))
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == code
    assert words in error["message"]
    assert not Job.objects.filter(owner=alice).exists()


def test_a_photo_over_the_limit_is_refused_from_the_zips_directory(
    api: APIClient, alice: User, settings: Any
) -> None:
    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    big = _zip({"big.jpg": b"\xff" * (2 * 1024 * 1024)})
    response = _submit(api, "batch", ("big.zip", big))
    assert response.status_code == 400
    assert "expands to 2 MB" in response.json()["error"]["message"]


def test_a_zip_listing_far_more_entries_than_a_batch_is_refused_unread(
    api: APIClient, alice: User, settings: Any
) -> None:
    settings.BATCH_MAX_FILES = 10
    crowded = _zip({f"notes/{n}.txt": b"" for n in range(200)})
    response = _submit(api, "batch", ("crowded.zip", crowded))
    assert response.status_code == 400
    assert "lists 200 entries" in response.json()["error"]["message"]


def test_a_job_file_over_the_limit_answers_413(api: APIClient, alice: User, settings: Any) -> None:
    settings.JOB_UPLOAD_MAX_BYTES = 1000
    response = _submit(api, "video", ("clip.mp4", b"\0" * 2000))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"


def test_an_enhancer_without_its_weights_is_refused_before_queueing(
    api: APIClient, alice: User, settings: Any, tmp_path: Path, testdata: Path
) -> None:
    settings.ML_MODELS_DIR = tmp_path  # no GFPGANv1.4.pth there
    photo = (testdata / "faces" / "Alain_Cervantes_0001.jpg").read_bytes()
    response = _submit(api, "enhance", ("face.jpg", photo), enhance="gfpgan")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "enhancement_unavailable"
    assert "GFPGANv1.4.pth" in error["message"]
    assert not Job.objects.filter(owner=alice).exists()


def test_cancelling_a_batch_deletes_the_photos_it_saved_so_far(
    api: APIClient, alice: User, job_media: CeleryWorker, testdata: Path
) -> None:
    response = _submit(api, "batch", ("many.zip", _zip(_photos(testdata, 40))), tta="10")
    job_id = response.json()["id"]
    _wait(api, job_id, lambda job: job["state"] == "running" and job["progress"] >= 8)
    assert SavedAnalysis.objects.filter(owner=alice, pending=True).exists()
    # Saved photos of a running batch are nowhere to be seen.
    assert api.get("/api/v1/analyses").json()["count"] == 0
    assert api.post(f"/api/v1/jobs/{job_id}/cancel").json()["state"] == "cancelled"
    deadline = time.monotonic() + 10
    while SavedAnalysis.objects.filter(owner=alice).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not SavedAnalysis.objects.filter(owner=alice).exists()
    assert not Collection.objects.filter(owner=alice).exists()


def test_without_a_broker_jobs_run_in_a_thread_of_the_server(
    api: APIClient, alice: User, settings: Any, testdata: Path
) -> None:
    settings.CELERY_BROKER_URL = ""
    photo = (testdata / "faces" / "Alain_Cervantes_0001.jpg").read_bytes()
    response = _submit(api, "batch", ("one.zip", _zip({"a.jpg": photo})), tta="1")
    assert response.status_code == 202
    job = _wait(api, response.json()["id"], _finished, timeout=120)
    assert job["state"] == "done", job["error"]
    assert job["result"]["analysed"] == 1
    worker = Job.objects.get(pk=job["id"]).worker
    import os

    assert worker.endswith(f":{os.getpid()}")


def test_too_many_unfinished_jobs_answer_429(api: APIClient, alice: User, settings: Any) -> None:
    settings.JOBS_MAX_ACTIVE = 2
    for _ in range(2):
        Job.objects.create(owner=alice, kind=Job.Kind.VIDEO)
    response = _submit(api, "enhance", ("x.jpg", b"irrelevant"))
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_jobs"
    assert response["Retry-After"] == "30"


def test_a_server_without_a_broker_resumes_the_jobs_left_queued(
    api: APIClient, alice: User, settings: Any, testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.apps import apps

    from archive import jobs

    settings.CELERY_BROKER_URL = ""
    photo = (testdata / "faces" / "Alain_Cervantes_0001.jpg").read_bytes()
    # The server that took the job stopped before running it.
    with monkeypatch.context() as patched:
        patched.setattr(jobs, "_dispatch", lambda job_id: None)
        job_id = _submit(api, "batch", ("one.zip", _zip({"a.jpg": photo})), tta="1").json()["id"]
    assert Job.objects.get(pk=job_id).state == Job.State.QUEUED
    apps.get_app_config("archive").asgi_started()  # type: ignore[attr-defined]
    assert _wait(api, job_id, _finished)["state"] == "done"
