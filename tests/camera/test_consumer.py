"""The live camera websocket, through the whole ASGI stack (origin check, session, tokens)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from accounts.models import User
from accounts.services import api_token_create, user_identity_set
from analysis.ml import loaders as ml_models
from analysis.ml import registry
from analysis.ml.ensemble import Ensemble
from analysis.ml.registry import Lane, LaneSpec
from analysis.ml.types import Box
from archive.models import SavedAnalysis
from camera import consumers
from fersite.asgi import application
from tests.analysis.fakes import FakeClassifier, FakeDetector, FakeQuickDetector
from tests.conftest import login_verified

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
ORIGIN = (b"origin", b"http://localhost")


class SlowClassifier(FakeClassifier):
    def predict(self, faces: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        time.sleep(0.4)
        return super().predict(faces)


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> FakeClassifier:
    classifier = FakeClassifier()
    monkeypatch.setattr(
        ml_models, "detector", lambda name, threads=2: FakeDetector([Box(100, 80, 160, 160)])
    )
    monkeypatch.setattr(ml_models, "emotion_classifier", lambda **_: Ensemble([classifier]))
    # The live path's quick detector (BlazeFace) sees nothing here: the faces come from the
    # stream's own detector, which runs on a copy at most 320 px long.
    monkeypatch.setattr(ml_models, "blazeface_detector", lambda threads=2: FakeQuickDetector([]))
    return classifier


@pytest.fixture
def frame(testdata: Path) -> bytes:
    return (testdata / "scenes" / "single_large.jpg").read_bytes()


def _session_cookie(user: User, *, verified: bool = True) -> tuple[bytes, bytes]:
    client = Client()
    if verified:
        login_verified(client, user)
    else:
        client.force_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={value}".encode())


async def _connect(*headers: tuple[bytes, bytes]) -> tuple[WebsocketCommunicator, bool, Any]:
    communicator = WebsocketCommunicator(application, "/ws/camera/", headers=list(headers))
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


async def test_anonymous_and_unverified_sessions_are_refused(alice: User) -> None:
    from asgiref.sync import sync_to_async

    for headers in (
        [ORIGIN],
        [ORIGIN, await sync_to_async(_session_cookie)(alice, verified=False)],
    ):
        communicator, connected, code = await _connect(*headers)
        assert not connected
        assert code == 4401
        await communicator.disconnect()


async def test_another_origin_is_refused(alice: User) -> None:
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(_session_cookie)(alice)
    communicator, connected, code = await _connect((b"origin", b"http://evil.example"), cookie)
    assert not connected
    # Refused by the origin check (Channels' plain close), not by authentication (4401).
    assert code == 1000
    await communicator.disconnect()


async def test_a_verified_session_gets_faces_for_each_frame(
    alice: User, fake_models: FakeClassifier, frame: bytes
) -> None:
    from asgiref.sync import sync_to_async

    communicator, connected, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    assert connected
    assert (await communicator.receive_json_from())["type"] == "ready"
    await communicator.send_to(bytes_data=frame)
    message = await communicator.receive_json_from(timeout=20)
    assert message["type"] == "faces"
    assert message["frame"] == 1
    assert message["image"] == {
        "width": 1536,
        "height": 2048,
        "format": "JPEG",
        "exif_rotated": False,
        "reduced_by": 1,
    }
    face = message["faces"][0]
    # The fake's box is on the 320 px copy the live detector sees, mapped back to full size
    # (and clipped to the picture's 1536 px width).
    assert face["box"] == [640, 512, 896, 1024]
    assert sum(face["emotions"].values()) == pytest.approx(1, abs=0.01)
    assert face["dominant_emotion"] == "happy"
    assert face["track"] == 1
    # Identity features are off: nobody is looked up.
    assert "person" not in face
    assert message["repeated"] is False
    assert message["stream"] == 1
    # The same picture again is answered from the last analysis, with the same face.
    await communicator.send_to(bytes_data=frame)
    again = await communicator.receive_json_from(timeout=20)
    assert again["repeated"] is True
    assert again["faces"][0]["track"] == 1
    assert again["faces"][0]["emotions"] == face["emotions"]
    await communicator.disconnect()


@pytest.fixture
def live_lane(monkeypatch: pytest.MonkeyPatch) -> Lane:
    """The process's live lane, holding one frame at most."""
    from analysis import services as analysis_services

    analysis_services.lane_submit(analysis_services.LIVE, lambda: None).result(timeout=10)
    lane = registry.lane(analysis_services.LIVE)
    monkeypatch.setattr(lane, "spec", LaneSpec(threads=1, capacity=1))
    return lane


async def test_a_full_live_lane_answers_busy_with_a_retry_time(
    alice: User, fake_models: FakeClassifier, frame: bytes, live_lane: Lane
) -> None:
    from asgiref.sync import sync_to_async

    communicator, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    await communicator.receive_json_from()
    release = threading.Event()
    # Another stream's frame takes the lane's one place (once an earlier test's frame is done).
    blocker = live_lane.submit(release.wait, wait=10)
    try:
        await communicator.send_to(bytes_data=frame)
        error = await communicator.receive_json_from(timeout=10)
    finally:
        release.set()
    # The lane frees its place before it answers, so once the other frame is answered there is room.
    await asyncio.wrap_future(blocker)
    assert error["type"] == "error"
    assert error["error"]["code"] == "busy"
    assert error["retry_after"] == 1
    assert error["frame"] == 1
    await communicator.send_to(bytes_data=frame)
    answer = await communicator.receive_json_from(timeout=20)
    assert answer["type"] == "faces", answer
    await communicator.disconnect()


async def test_a_closed_socket_takes_its_waiting_frame_out_of_the_lane(
    alice: User, fake_models: FakeClassifier, frame: bytes, live_lane: Lane
) -> None:
    from asgiref.sync import sync_to_async

    live_lane.spec = LaneSpec(threads=1, capacity=4)
    communicator, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    await communicator.receive_json_from()
    release = threading.Event()
    live_lane.submit(release.wait, wait=10)  # the lane is busy with another stream's frame
    cancelled = live_lane.stats().cancelled
    await communicator.send_to(bytes_data=frame)
    deadline = time.monotonic() + 10
    while live_lane.stats().pending < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert live_lane.stats().pending >= 2  # the frame waits its turn
    await communicator.disconnect()
    release.set()
    while live_lane.stats().pending and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert live_lane.stats().cancelled == cancelled + 1
    assert fake_models.batches == []  # the frame was never analysed


async def test_an_api_token_in_the_handshake_authenticates(
    alice: User, fake_models: FakeClassifier, frame: bytes
) -> None:
    from asgiref.sync import sync_to_async

    key = (await sync_to_async(api_token_create)(user=alice, name="ws")).key
    communicator, connected, _ = await _connect(ORIGIN, (b"authorization", f"Token {key}".encode()))
    assert connected
    await communicator.disconnect()
    communicator, connected, code = await _connect(ORIGIN, (b"authorization", b"Token wrong"))
    assert not connected
    assert code == 4401


async def test_a_bad_frame_gets_an_error_and_the_stream_goes_on(
    alice: User, fake_models: FakeClassifier, frame: bytes
) -> None:
    from asgiref.sync import sync_to_async

    communicator, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    await communicator.receive_json_from()
    await communicator.send_to(bytes_data=b"not a jpeg")
    error = await communicator.receive_json_from(timeout=10)
    assert error["type"] == "error"
    assert error["error"]["code"] == "invalid_image"
    await communicator.send_to(bytes_data=frame)
    assert (await communicator.receive_json_from(timeout=20))["type"] == "faces"
    await communicator.send_to(text_data='{"type": "settings", "passes": 50}')
    assert (await communicator.receive_json_from())["error"]["code"] == "validation_error"
    await communicator.disconnect()


async def test_frames_that_arrive_while_busy_give_way_to_the_newest(
    alice: User, monkeypatch: pytest.MonkeyPatch, frame: bytes
) -> None:
    from asgiref.sync import sync_to_async

    monkeypatch.setattr(
        ml_models, "detector", lambda name, threads=2: FakeDetector([Box(10, 10, 90, 90)])
    )
    monkeypatch.setattr(ml_models, "emotion_classifier", lambda **_: Ensemble([SlowClassifier()]))
    monkeypatch.setattr(ml_models, "blazeface_detector", lambda threads=2: FakeQuickDetector([]))
    communicator, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    await communicator.receive_json_from()
    for _ in range(5):
        await communicator.send_to(bytes_data=frame)
    first = await communicator.receive_json_from(timeout=20)
    second = await communicator.receive_json_from(timeout=20)
    assert first["frame"] == 1
    assert second["frame"] == 5
    assert second["dropped"] == 3
    assert await communicator.receive_nothing(timeout=1)
    await communicator.disconnect()


async def test_capture_saves_the_latest_frame_to_the_archive(
    alice: User, fake_models: FakeClassifier, frame: bytes
) -> None:
    from asgiref.sync import sync_to_async

    communicator, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    await communicator.receive_json_from()
    await communicator.send_to(text_data='{"type": "capture", "name": "too early"}')
    assert (await communicator.receive_json_from())["error"]["code"] == "no_frame"
    await communicator.send_to(bytes_data=frame)
    await communicator.receive_json_from(timeout=20)
    await communicator.send_to(text_data='{"type": "capture", "name": "Webcam 📷"}')
    saved = await communicator.receive_json_from(timeout=20)
    assert saved["type"] == "saved"
    analysis = await sync_to_async(SavedAnalysis.objects.get)(pk=saved["analysis_id"])
    assert analysis.name == "Webcam 📷"
    assert analysis.source == "camera"
    assert analysis.owner_id == alice.pk
    assert analysis.passes == 10
    await communicator.disconnect()


async def _streaming(user: User, frame: bytes) -> WebsocketCommunicator:
    """A camera socket of ``user``'s verified session, which has had one frame analysed."""
    from asgiref.sync import sync_to_async

    communicator, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(user))
    await communicator.receive_json_from()
    await communicator.send_to(bytes_data=frame)
    assert (await communicator.receive_json_from(timeout=20))["frame"] == 1
    return communicator


def _held(
    monkeypatch: pytest.MonkeyPatch, step: str, seconds: float
) -> tuple[threading.Event, threading.Event]:
    """Hold camera.services' ``step`` until the second event is set (or ``seconds`` pass);
    the first is set once a call is held."""
    from camera import services

    entered, release = threading.Event(), threading.Event()
    original = getattr(services, step)

    def held(**kwargs: Any) -> Any:
        entered.set()
        release.wait(seconds)
        return original(**kwargs)

    monkeypatch.setattr(services, step, held)
    return entered, release


@pytest.mark.parametrize("step", ["frame_capture_run", "frame_capture_save"])
async def test_live_frames_are_answered_while_a_capture_is_saved(
    alice: User,
    fake_models: FakeClassifier,
    frame: bytes,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
) -> None:
    # A capture's full analysis and save held every frame that arrived meanwhile: its
    # analysis was awaited in the socket's message handler, and its save ran on the socket's
    # own database thread, which Channels also uses before each message.
    from asgiref.sync import sync_to_async

    # Held longer than the live frame's answer is waited for below.
    entered, release = _held(monkeypatch, step, 60)
    communicator = await _streaming(alice, frame)
    try:
        await communicator.send_to(text_data='{"type": "capture", "name": "held"}')
        assert await asyncio.to_thread(entered.wait, 20)
        await communicator.send_to(text_data='{"type": "capture", "name": "second"}')
        refused = await communicator.receive_json_from(timeout=20)
        assert refused["error"]["code"] == "busy"
        assert refused["capture"] is True
        await communicator.send_to(bytes_data=frame)
        live = await communicator.receive_json_from(timeout=20)
        assert (live["type"], live["frame"]) == ("faces", 2)
    finally:
        release.set()
    saved = await communicator.receive_json_from(timeout=20)
    assert saved["type"] == "saved"
    assert saved["name"] == "held"
    assert await sync_to_async(SavedAnalysis.objects.count)() == 1
    await communicator.disconnect()


async def test_a_capture_that_fails_before_its_analysis_is_answered(
    alice: User, fake_models: FakeClassifier, frame: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The checks before the analysis (the session, the consent) can fail too (the database
    # gone for a moment): the page must hear of it, or its Capture button stays disabled.
    import accounts.websocket

    communicator = await _streaming(alice, frame)

    async def database_down(session: Any, user: Any) -> bool:
        raise ConnectionError("the database is gone")

    monkeypatch.setattr(accounts.websocket, "_session_verified", database_down)
    await communicator.send_to(text_data='{"type": "capture", "name": "unlucky"}')
    answer = await communicator.receive_json_from(timeout=20)
    assert answer["type"] == "error"
    assert answer["capture"] is True
    assert answer["error"]["code"] == "server_error"
    await communicator.disconnect()


@pytest.mark.parametrize("limit", [30.0, 0.2])
async def test_a_capture_under_way_is_saved_when_the_socket_closes_within_a_limit(
    alice: User,
    fake_models: FakeClassifier,
    frame: bytes,
    monkeypatch: pytest.MonkeyPatch,
    limit: float,
) -> None:
    from asgiref.sync import sync_to_async

    monkeypatch.setattr(consumers, "CAPTURE_CLOSE_SECONDS", limit)
    started, _ = _held(monkeypatch, "frame_capture_run", 1.0)  # an analysis of 1 s
    communicator = await _streaming(alice, frame)
    await communicator.send_to(text_data='{"type": "capture", "name": "closing"}')
    assert await asyncio.to_thread(started.wait, 20)
    await communicator.disconnect(timeout=40)
    # Past the limit the capture is given up: its analysis ends in its thread, unsaved.
    await asyncio.sleep(2.0)
    saved = await sync_to_async(SavedAnalysis.objects.filter(name="closing").count)()
    assert saved == (1 if limit > 1 else 0)


async def test_a_capture_whose_session_ends_during_its_analysis_is_not_saved(
    alice: User, fake_models: FakeClassifier, frame: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asgiref.sync import sync_to_async
    from django.contrib.sessions.models import Session

    entered, release = _held(monkeypatch, "frame_capture_run", 20)
    communicator = await _streaming(alice, frame)
    await communicator.send_to(text_data='{"type": "capture", "name": "logged out meanwhile"}')
    assert await asyncio.to_thread(entered.wait, 20)
    await sync_to_async(Session.objects.all().delete)()  # logged out while it was analysed
    release.set()
    assert (await communicator.receive_output(timeout=20))["code"] == 4401
    assert not await sync_to_async(SavedAnalysis.objects.exists)()
    await communicator.disconnect()


async def test_capture_after_logout_closes_the_socket_and_saves_nothing(
    alice: User, fake_models: FakeClassifier, frame: bytes
) -> None:
    from asgiref.sync import sync_to_async
    from django.contrib.sessions.models import Session

    communicator, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    await communicator.receive_json_from()
    await communicator.send_to(bytes_data=frame)
    await communicator.receive_json_from(timeout=20)
    await sync_to_async(Session.objects.all().delete)()  # logged out everywhere
    await communicator.send_to(text_data='{"type": "capture", "name": "after logout"}')
    closed = await communicator.receive_output(timeout=20)
    assert closed == {"type": "websocket.close", "code": 4401}
    assert not await sync_to_async(SavedAnalysis.objects.exists)()
    await communicator.disconnect()  # the application ends in this test's event loop


async def test_capture_with_a_revoked_token_closes_the_socket(
    alice: User, fake_models: FakeClassifier, frame: bytes
) -> None:
    from asgiref.sync import sync_to_async

    from accounts.models import ApiToken

    key = (await sync_to_async(api_token_create)(user=alice, name="ws")).key
    communicator, _, _ = await _connect(ORIGIN, (b"authorization", f"Token {key}".encode()))
    await communicator.receive_json_from()
    await communicator.send_to(bytes_data=frame)
    await communicator.receive_json_from(timeout=20)
    await sync_to_async(ApiToken.objects.all().delete)()
    await communicator.send_to(text_data='{"type": "capture"}')
    assert (await communicator.receive_output(timeout=20))["code"] == 4401
    assert not await sync_to_async(SavedAnalysis.objects.exists)()
    await communicator.disconnect()


async def test_an_api_client_without_an_origin_connects_with_its_token(
    alice: User, fake_models: FakeClassifier, frame: bytes
) -> None:
    from asgiref.sync import sync_to_async

    key = (await sync_to_async(api_token_create)(user=alice, name="ws")).key
    communicator, connected, _ = await _connect((b"authorization", f"Token {key}".encode()))
    assert connected
    await communicator.receive_json_from()
    await communicator.send_to(bytes_data=frame)
    assert (await communicator.receive_json_from(timeout=20))["type"] == "faces"
    await communicator.disconnect()


async def test_a_cookie_session_without_an_origin_is_refused(alice: User) -> None:
    from asgiref.sync import sync_to_async

    communicator, connected, code = await _connect(await sync_to_async(_session_cookie)(alice))
    assert not connected
    assert code == 1000  # the origin check, not authentication
    await communicator.disconnect()
    # A wrong token without an origin is no better than none.
    communicator, connected, code = await _connect((b"authorization", b"Token wrong"))
    assert not connected
    assert code == 4401


async def test_a_socket_stops_analysing_once_its_session_is_gone(
    alice: User, fake_models: FakeClassifier, frame: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asgiref.sync import sync_to_async
    from django.contrib.sessions.models import Session

    from camera import consumers

    monkeypatch.setattr(consumers, "AUTH_RECHECK_SECONDS", 0.0)
    communicator, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    await communicator.receive_json_from()
    await communicator.send_to(bytes_data=frame)
    assert (await communicator.receive_json_from(timeout=20))["type"] == "faces"
    await sync_to_async(Session.objects.all().delete)()  # logged out
    await communicator.send_to(bytes_data=frame)
    assert await communicator.receive_output(timeout=20) == {
        "type": "websocket.close",
        "code": 4401,
    }
    await communicator.disconnect()


async def test_a_socket_stops_analysing_once_its_token_is_revoked(
    alice: User, fake_models: FakeClassifier, frame: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asgiref.sync import sync_to_async

    from accounts.services import api_token_revoke
    from camera import consumers

    monkeypatch.setattr(consumers, "AUTH_RECHECK_SECONDS", 0.0)
    made = await sync_to_async(api_token_create)(user=alice, name="ws")
    communicator, _, _ = await _connect(ORIGIN, (b"authorization", f"Token {made.key}".encode()))
    await communicator.receive_json_from()
    await sync_to_async(api_token_revoke)(user=alice, token_id=made.token.pk)
    await communicator.send_to(bytes_data=frame)
    assert (await communicator.receive_output(timeout=20))["code"] == 4401
    await communicator.disconnect()


async def test_a_new_password_closes_the_users_open_sockets_and_revokes_tokens(
    alice: User, bob: User, fake_models: FakeClassifier
) -> None:
    from asgiref.sync import sync_to_async

    from accounts.models import ApiToken

    key = (await sync_to_async(api_token_create)(user=alice, name="ws")).key
    await sync_to_async(api_token_create)(user=bob, name="bob's")
    alice_socket, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    token_socket, _, _ = await _connect((b"authorization", f"Token {key}".encode()))
    bob_socket, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(bob))
    for communicator in (alice_socket, token_socket, bob_socket):
        await communicator.receive_json_from()

    def change_password() -> None:
        alice.set_password("an-entirely-new-passw0rd")
        alice.save()

    await sync_to_async(change_password)()
    for communicator in (alice_socket, token_socket):
        assert await communicator.receive_output(timeout=10) == {
            "type": "websocket.close",
            "code": 4401,
        }
    assert await bob_socket.receive_nothing(timeout=0.5)
    assert not await sync_to_async(ApiToken.objects.filter(user=alice).exists)()
    assert await sync_to_async(ApiToken.objects.filter(user=bob).count)() == 1
    for communicator in (alice_socket, token_socket, bob_socket):
        await communicator.disconnect()


async def test_a_socket_of_a_deactivated_user_closes_at_its_next_check(
    alice: User, fake_models: FakeClassifier, frame: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asgiref.sync import sync_to_async

    from camera import consumers

    monkeypatch.setattr(consumers, "AUTH_RECHECK_SECONDS", 0.0)
    key = (await sync_to_async(api_token_create)(user=alice, name="ws")).key
    session_socket, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    token_socket, _, _ = await _connect((b"authorization", f"Token {key}".encode()))
    for communicator in (session_socket, token_socket):
        await communicator.receive_json_from()
    # Deactivated without a save() that would broadcast: only the re-check can see it.
    await sync_to_async(User.objects.filter(pk=alice.pk).update)(is_active=False)
    for communicator in (session_socket, token_socket):
        await communicator.send_to(bytes_data=frame)
        assert (await communicator.receive_output(timeout=20))["code"] == 4401
        await communicator.disconnect()


async def test_live_frames_and_captures_count_in_the_usage(
    alice: User, fake_models: FakeClassifier, frame: bytes
) -> None:
    from asgiref.sync import sync_to_async

    from archive.models import UsageDay

    communicator, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    await communicator.receive_json_from()
    for _ in range(2):
        await communicator.send_to(bytes_data=frame)
        await communicator.receive_json_from(timeout=20)
    await communicator.send_to(text_data='{"type": "capture"}')
    await communicator.receive_json_from(timeout=20)
    await communicator.disconnect()
    row = await sync_to_async(UsageDay.objects.get)(owner=alice, source="camera")
    # Two live frames (reported when the socket closed) and one capture, one face each.
    assert (row.analyses, row.faces) == (3, 3)


async def test_bad_messages_get_errors_and_the_socket_stays_open(
    alice: User, fake_models: FakeClassifier, frame: bytes
) -> None:
    from asgiref.sync import sync_to_async

    from camera.services import MAX_FRAME_BYTES

    communicator, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    await communicator.receive_json_from()
    await communicator.send_to(bytes_data=b"\xff" * (MAX_FRAME_BYTES + 1))
    assert (await communicator.receive_json_from())["error"]["code"] == "file_too_large"
    await communicator.send_to(text_data="not json")
    assert (await communicator.receive_json_from())["error"]["code"] == "validation_error"
    await communicator.send_to(text_data='["a list"]')
    assert (await communicator.receive_json_from())["error"]["code"] == "validation_error"
    await communicator.send_to(text_data='{"type": "explode"}')
    assert (await communicator.receive_json_from())["error"]["code"] == "validation_error"
    await communicator.send_to(text_data='{"type": "settings", "detector": "psychic"}')
    assert (await communicator.receive_json_from())["error"]["code"] == "validation_error"
    await communicator.send_to(bytes_data=frame)
    assert (await communicator.receive_json_from(timeout=20))["type"] == "faces"
    await communicator.disconnect()


async def test_new_settings_start_a_new_stream_whose_faces_are_numbered_afresh(
    alice: User, fake_models: FakeClassifier, frame: bytes
) -> None:
    from asgiref.sync import sync_to_async

    communicator, _, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    assert (await communicator.receive_json_from())["stream"] == 1
    await communicator.send_to(bytes_data=frame)
    first = await communicator.receive_json_from(timeout=20)
    assert (first["stream"], first["passes"]) == (1, 1)
    # The same settings again change nothing; other settings start stream 2.
    await communicator.send_to(text_data='{"type": "settings", "passes": 1}')
    assert (await communicator.receive_json_from())["stream"] == 1
    await communicator.send_to(text_data='{"type": "settings", "passes": 2}')
    assert (await communicator.receive_json_from())["stream"] == 2
    await communicator.send_to(bytes_data=frame)
    second = await communicator.receive_json_from(timeout=20)
    assert (second["stream"], second["passes"]) == (2, 2)
    assert second["faces"][0]["track"] == 1
    assert second["repeated"] is False  # a new stream has no answer to repeat
    await communicator.disconnect()


def _enrol(owner: User, testdata: Path) -> None:
    from archive.people import person_create, person_photo_add

    user_identity_set(user=owner, enabled=True)
    train = testdata / "enrol" / "train"
    for name, folder in (("Barack Obama", "obama"), ("Joe Biden", "biden")):
        person = person_create(owner=owner, name=name)
        for photo in sorted((train / folder).iterdir()):
            person_photo_add(person=person, data=photo.read_bytes())


@pytest.mark.ml
async def test_with_identity_on_the_camera_names_enrolled_people_and_not_strangers(
    alice: User, testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(_enrol)(alice, testdata)
    communicator, connected, _ = await _connect(ORIGIN, await sync_to_async(_session_cookie)(alice))
    assert connected
    assert (await communicator.receive_json_from())["type"] == "ready"
    test = testdata / "enrol" / "test"
    names: dict[int, str | None] = {}
    # One new face is looked up per frame: a few frames name them all.
    for _ in range(4):
        await communicator.send_to(bytes_data=(test / "obama_and_biden.jpg").read_bytes())
        message = await communicator.receive_json_from(timeout=60)
        assert message["type"] == "faces", message
        assert len(message["faces"]) >= 2
        # A girl in shadow, lower right, was never enrolled: her face stays unknown.
        if len(message["faces"]) == 3:
            assert min(message["faces"], key=lambda f: f["box"][2])["person"] is None
        for face in message["faces"]:
            person = face["person"]
            names[face["track"]] = None if person is None else person["name"]
            if person is not None:
                assert face["person_similarity"] >= 0.9
    # Both are named (a face may come back under a new track), and nobody else is.
    assert {name for name in names.values() if name} == {"Barack Obama", "Joe Biden"}
    # Kit Harington and Rose Leslie were never enrolled: their faces stay unknown.
    for _ in range(3):
        await communicator.send_to(bytes_data=(test / "kit_with_rose.jpg").read_bytes())
        message = await communicator.receive_json_from(timeout=60)
        assert len(message["faces"]) >= 2
        assert all(face["person"] is None for face in message["faces"])
    # Identity features turned off while the stream runs: at its next check it names nobody.
    alice.identity_enabled = False
    await sync_to_async(alice.save)(update_fields=["identity_enabled"])
    monkeypatch.setattr(consumers, "NAMES_RECHECK_SECONDS", 0.0)
    await communicator.send_to(bytes_data=(test / "obama_and_biden.jpg").read_bytes())
    message = await communicator.receive_json_from(timeout=60)
    assert message["faces"]
    assert all("person" not in face for face in message["faces"])
    await communicator.disconnect()
