"""Oversized request bodies are refused before they are read, on every route, by the real
server (Daphne) and by the ASGI middleware that guards any other server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import LazySettings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from accounts.models import User
from accounts.services import api_token_create
from archive.models import Job
from fersite import daphne_limits
from fersite.body_limit import RequestBodyLimit

LIMIT = 64 * 1024


@pytest.fixture
def small_limit(settings: LazySettings) -> int:
    settings.REQUEST_MAX_BYTES = LIMIT
    return LIMIT


def _exchange(url: str, head: bytes, body_chunks: list[bytes] = ()) -> tuple[int, dict[str, Any]]:  # type: ignore[assignment]
    """Send a raw request and read the answer's status and JSON body."""
    answer = _answer(url, head, body_chunks)
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(body)


def _answer(url: str, head: bytes, body_chunks: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    """Send a raw request and read the whole answer, as it came; the body, if any, may never
    be sent whole."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        for chunk in body_chunks:
            try:
                sock.sendall(chunk)
            except OSError:
                break  # the server answered and closed: what it said is still to be read
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    return answer


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/api/v1/analyze", "/healthz", "/"])
def test_the_server_refuses_a_declared_length_over_the_limit_without_reading_it(
    asgi_live_server: str, small_limit: int, path: str
) -> None:
    # The headers announce 300 MB and no byte of the body follows: a server that waited for
    # the body before answering would time out here.
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 314572800\r\n\r\n"
    ).encode()
    status, body = _exchange(asgi_live_server, head)
    assert status == 413
    assert body["error"]["code"] == "file_too_large"


@pytest.mark.django_db(transaction=True)
def test_a_client_that_expects_100_continue_is_refused_and_not_invited(
    asgi_live_server: str, small_limit: int
) -> None:
    parts = urlsplit(asgi_live_server)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: 314572800\r\n\r\n"
        )
        answer = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in answer


@pytest.mark.django_db(transaction=True)
def test_the_server_stops_a_chunked_body_once_it_passes_the_limit(
    asgi_live_server: str, small_limit: int
) -> None:
    head = (
        b"POST /api/v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 16384
    # Eight chunks of 16 KB pass the 64 KB limit; the final zero-length chunk is never sent,
    # so the server can only answer by stopping at the limit.
    encoded = [b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(8)]
    status, body = _exchange(asgi_live_server, head, encoded)
    assert status == 413
    assert body["error"]["code"] == "file_too_large"


@pytest.mark.django_db(transaction=True)
def test_a_body_under_the_limit_reaches_the_application(
    asgi_live_server: str, small_limit: int
) -> None:
    head = (
        b"POST /api/v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: 5\r\n\r\nhello"
    )
    status, body = _exchange(asgi_live_server, head)
    # Django read it and answered as the API does for an anonymous caller.
    assert status == 401
    assert body["error"]["code"] == "not_authenticated"


class _Recorder:
    """An ASGI application that reads its whole body and records what it saw."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _run(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> list[Any]:
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    read = 0
    sent: list[Any] = []

    async def receive() -> Any:
        nonlocal read
        read += 1
        return pending.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "http", "headers": headers}, receive, send)
    sent.append({"chunks_read": read})
    return sent


def _sync(coroutine: Coroutine[Any, Any, list[Any]]) -> list[Any]:
    # In a thread of its own: the browser tests' Playwright keeps an event loop running in the
    # main thread for the whole session.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_the_middleware_answers_413_from_the_header_alone() -> None:
    app = _Recorder()
    limited = RequestBodyLimit(app, limit=lambda *args, **kwargs: 100)
    sent = _sync(_run(limited, [(b"content-length", b"101")], [b"x" * 101]))
    assert not app.called
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "file_too_large"
    assert sent[2] == {"chunks_read": 0}


def test_the_middleware_stops_a_body_without_a_length_at_the_limit() -> None:
    app = _Recorder()
    sent = _sync(
        _run(RequestBodyLimit(app, limit=lambda *args, **kwargs: 100), [], [b"x" * 60] * 5)
    )
    assert sent[0]["status"] == 413
    # It stopped at the second chunk (120 bytes), never asking for the other three.
    assert sent[-1] == {"chunks_read": 2}


def test_the_middleware_passes_bodies_within_the_limit() -> None:
    app = _Recorder()
    limited = RequestBodyLimit(app, limit=lambda *args, **kwargs: 100)
    sent = _sync(_run(limited, [(b"content-length", b"100")], [b"x" * 100]))
    assert app.body == b"x" * 100
    assert sent[0]["status"] == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "case",
    [
        # Jobs take large files, from a client that says who it is...
        ("POST", "/api/v1/jobs", "Authorization: Token nonsense\r\n", 401),
        ("POST", "/api/v1/jobs", "Cookie: sessionid=nonsense\r\n", 401),
        # ...and everything else, anonymous posts to the jobs included, keeps the usual limit.
        ("POST", "/api/v1/jobs", "", 413),
        ("POST", "/api/v1/jobs/7/cancel", "Authorization: Token nonsense\r\n", 413),
        ("PUT", "/api/v1/jobs", "Authorization: Token nonsense\r\n", 413),
        ("POST", "/api/v1/analyze", "Authorization: Token nonsense\r\n", 413),
    ],
)
def test_only_job_submissions_with_credentials_get_the_larger_limit(
    asgi_live_server: str,
    small_limit: int,
    settings: LazySettings,
    case: tuple[str, str, str, int],
) -> None:
    method, path, credentials, status = case
    settings.REQUEST_MAX_BYTES_BY_PATH = {"/api/v1/jobs": LIMIT * 4}
    body = b"x" * (LIMIT * 2)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{credentials}"
        f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    answer, _ = _exchange(asgi_live_server, head, [body])
    assert answer == status


@pytest.mark.django_db(transaction=True)
def test_a_malformed_upload_gets_the_apis_error_from_the_server(
    asgi_live_server: str, alice: User
) -> None:
    # Multipart without a boundary. Twisted, under Daphne, used to parse every multipart body
    # itself (a copy that Daphne never reads) and answered this one with its own HTML page;
    # the body must reach Django, whose answer is the API's JSON error shape.
    key = api_token_create(user=alice, name="upload").key
    body = b'--abc\r\nContent-Disposition: form-data; name="tta"\r\n\r\n10\r\n--abc--\r\n'
    head = (
        f"POST /api/v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {key}\r\n"
        f"Content-Type: multipart/form-data\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    status, answer = _exchange(asgi_live_server, head, [body])
    assert status == 400
    assert answer["error"]["code"] == "parse_error"


@pytest.mark.django_db(transaction=True)
def test_a_camera_frame_over_its_limit_is_answered_not_cut_off(
    asgi_live_server: str, alice: User
) -> None:
    # The camera refuses a frame over MAX_FRAME_BYTES (4 MB) with an error the page can show.
    # Daphne's own limit on a websocket message (1 MB by default) cut every frame over it off
    # with a close, before the camera could answer; and refused frames of 1-4 MB it accepts.
    from benchmarks.wsclient import WebSocket
    from camera.services import MAX_FRAME_BYTES

    key = api_token_create(user=alice, name="camera").key
    socket_ = WebSocket(asgi_live_server, "/ws/camera/", key)
    try:
        assert socket_.receive_json()["type"] == "ready"
        socket_.send_binary(b"\xff" * (MAX_FRAME_BYTES + 1))
        answer = socket_.receive_json()
    finally:
        socket_.close()
    assert answer["type"] == "error"
    assert answer["error"]["code"] == "file_too_large"


def _video_job(user: User, name: str, size: int, fill: bytes = b"\0") -> tuple[Job, str, str]:
    """A finished video job of ``user`` whose video is ``size`` bytes of ``fill``: the job, an
    API key of the user's and the video's stored name."""
    stored = default_storage.save(f"jobs/{name}", ContentFile(fill * size))
    job = Job.objects.create(owner=user, kind="video", state="done", files={"video": stored})
    return job, api_token_create(user=user, name=name).key, stored


def _video_answer(url: str, job: Job, key: str, method: str = "GET") -> tuple[bytes, bytes]:
    """The head and body of the server's answer to ``method`` on ``job``'s video, as sent."""
    answer = _answer(
        url,
        f"{method} /api/v1/jobs/{job.pk}/files/video HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Token {key}\r\nConnection: close\r\n\r\n".encode(),
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def _read_offset(path: str) -> int | None:
    """How far this process has read the open file ``path`` (None: it is not open)."""
    for link in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            if str(link.readlink()) == path:
                for line in Path(f"/proc/self/fdinfo/{link.name}").read_text().splitlines():
                    if line.startswith("pos:"):
                        return int(line.split()[1])
    return None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("range_header", ["", "Range: bytes=0-\r\n"])
def test_a_download_is_read_no_faster_than_the_client_takes_it(
    asgi_live_server: str, alice: User, range_header: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client that stops reading (a paused video) must not make the server read the whole
    # file: Django under ASGI used to read it all into memory before sending a byte, and
    # Daphne wrote every part into Twisted's buffer at once.
    monkeypatch.setattr(daphne_limits, "SEND_STALL_SECONDS", 4.0)
    size = 64 * 1024 * 1024
    job, key, name = _video_job(alice, "paced.mp4", size)
    path = default_storage.path(name)
    parts = urlsplit(asgi_live_server)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((parts.hostname, parts.port))
        sock.sendall(
            f"GET /api/v1/jobs/{job.pk}/files/video HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Token {key}\r\n{range_header}\r\n".encode()
        )
        assert sock.recv(12).startswith(b"HTTP/1.1 20")
        time.sleep(2)  # the client reads nothing more meanwhile
        offset = _read_offset(path)
        assert offset is not None, "the server read the whole file and closed it"
        # Socket buffers and a block or two; not the file.
        assert offset < size // 4
        # A client that takes nothing for SEND_STALL_SECONDS is let go, and the file closed.
        for _ in range(100):
            if _read_offset(path) is None:
                break
            time.sleep(0.1)
        assert _read_offset(path) is None


@pytest.mark.django_db(transaction=True)
def test_a_head_request_gets_the_headers_alone(asgi_live_server: str, alice: User) -> None:
    job, key, _ = _video_job(alice, "head.mp4", 1024 * 1024)
    head, body = _video_answer(asgi_live_server, job, key, "HEAD")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Content-Length: 1048576" in head
    assert body == b""


@pytest.mark.django_db(transaction=True)
def test_the_server_stops_reading_a_websocket_whose_messages_wait(
    asgi_live_server: str, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # While the application is busy with one message, the next ones wait in Daphne's queue
    # for it; a client that keeps sending must be held back by TCP, not kept in memory.
    from benchmarks.wsclient import WebSocket
    from camera.consumers import CameraConsumer

    release = threading.Event()

    async def busy(self: CameraConsumer, data: bytes) -> None:
        while not release.is_set():
            await asyncio.sleep(0.05)

    monkeypatch.setattr(CameraConsumer, "_frame", busy)
    key = api_token_create(user=alice, name="camera").key
    client = WebSocket(asgi_live_server, "/ws/camera/", key, timeout=2)
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    message, sent = b"\0" * (64 * 1024), 0
    try:
        assert client.receive_json()["type"] == "ready"
        with contextlib.suppress(TimeoutError):
            while sent < 64 * 1024 * 1024:
                client.send_binary(message)
                sent += len(message)
    finally:
        release.set()
        client.close()
    # A few messages in the queue and the sockets' buffers; not all that was offered.
    assert sent < 16 * 1024 * 1024


@pytest.mark.django_db(transaction=True)
def test_one_sockets_slow_database_work_does_not_hold_up_another(
    asgi_live_server: str, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Channels runs each websocket's database calls on one thread shared by the process
    # unless each socket has its own context: one socket's slow save held up every other.
    from channels.db import database_sync_to_async

    import accounts.websocket
    from benchmarks.wsclient import WebSocket

    entered, release = threading.Event(), threading.Event()

    @database_sync_to_async
    def slow_token_check(key: str, user_id: int) -> bool:
        entered.set()
        release.wait(30)
        return True

    key = api_token_create(user=alice, name="sockets").key
    camera = WebSocket(asgi_live_server, "/ws/camera/", key)
    jobs = WebSocket(asgi_live_server, "/ws/jobs/", key, timeout=10)
    try:
        assert camera.receive_json()["type"] == "ready"
        monkeypatch.setattr(accounts.websocket, "_token_valid", slow_token_check)
        # A capture checks the token again first: that check now waits.
        camera.send_text('{"type": "capture"}')
        assert entered.wait(10)
        jobs.send_text("ping")
        assert jobs.receive_text() == "pong"
    finally:
        release.set()
        camera.close()
        jobs.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("path", "json_error"), [("/api/v1/analyze", True), ("/", False)])
def test_the_servers_own_errors_under_the_api_are_json(
    asgi_live_server: str, path: str, json_error: bool
) -> None:
    # A header value with a control character is refused by Daphne itself, before Django.
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Odd: a\x0bb\r\nConnection: close\r\n\r\n"
    answer = _answer(asgi_live_server, head.encode())
    assert answer.startswith(b"HTTP/1.1 400")
    body = answer.partition(b"\r\n\r\n")[2]
    if json_error:
        assert json.loads(body)["error"]["code"] == "validation_error"
    else:
        assert body.lstrip().startswith(b"<!DOCTYPE html>") or b"<html" in body


@pytest.mark.django_db(transaction=True)
def test_a_download_that_fails_midway_is_cut_off_and_the_server_goes_on(
    asgi_live_server: str, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An application that fails after its response started: Daphne tried to start an error
    # page, which raised inside its application checker; the connection stayed open and the
    # checker stopped for the process, so the next such failure hung its client as well.
    import accounts.files

    calls = 0
    next_block = accounts.files._next_block

    def failing_next_block(blocks: Any) -> bytes | None:
        nonlocal calls
        calls += 1
        if calls % 2 == 0:
            raise OSError("the disk went away")
        return next_block(blocks)

    monkeypatch.setattr(accounts.files, "_next_block", failing_next_block)
    job, key, _ = _video_job(alice, "broken.mp4", 2 * 1024 * 1024, b"\1")
    for _ in range(2):
        started = time.monotonic()
        head, body = _video_answer(asgi_live_server, job, key)
        assert head.startswith(b"HTTP/1.1 200")
        assert b"Content-Length: 2097152" in head
        assert len(body) < 2 * 1024 * 1024  # short, and closed: the client can tell
        assert time.monotonic() - started < 8  # not held open until the client gives up
