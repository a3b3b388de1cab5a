"""The production server: the Procfile's web command starts two Daphne processes behind one
port; requests and websockets are served by both, and a process that dies is replaced."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from accounts.models import User
from accounts.services import api_token_create
from benchmarks.wsclient import WebSocket
from tests.conftest import REPO_ROOT, database_url_for_processes

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _procfile_command(name: str) -> str:
    for line in (REPO_ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"the Procfile has no {name} process")


class Served:
    def __init__(self, url: str, process: subprocess.Popen[bytes], key: str) -> None:
        self.url, self.process, self.key = url, process, key
        self.pids: set[int] = set()


@pytest.fixture
def served(tmp_path: Path, alice: User) -> Iterator[Served]:
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fersite.settings.test",
        "DATABASE_URL": database_url_for_processes(),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "WEB_WORKERS": "2",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - the Procfile's own command
            ["/bin/bash", "-c", _procfile_command("web")],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    key = api_token_create(user=alice, name="serve").key
    served = Served(f"http://127.0.0.1:{port}", process, key)
    try:
        # Ready once both processes have answered (each connection lands on one of them).
        deadline = time.monotonic() + 90
        while len(served.pids) < 2:
            with contextlib.suppress(OSError):
                served.pids.add(_pid(served.url, served.key))
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp_path / "serve.log").read_text())
            time.sleep(0.1)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=40) == 0
        finally:
            process.kill()
    # Stopping the supervisor stopped every server process it started.
    for pid in served.pids:
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "zombie" in status.read_text().lower(), pid


def _pid(url: str, key: str) -> int:
    headers = {"Authorization": f"Token {key}"}
    request = urllib.request.Request(url + "/healthz", headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return int(json.loads(response.read())["process"]["pid"])


def test_two_processes_serve_requests_and_websockets_and_one_that_dies_comes_back(
    served: Served, alice: User
) -> None:
    url, key = served.url, served.key
    # Each connection lands on one of the processes' sockets (SO_REUSEPORT): both answer.
    pids = {_pid(url, key) for _ in range(40)}
    assert pids == served.pids
    assert len(pids) == 2

    # Websockets on both processes get the events a worker sends through the channel layer.
    sockets = [WebSocket(url, "/ws/jobs/", key, timeout=10) for _ in range(16)]
    event = {
        "id": 1,
        "kind": "video",
        "state": "running",
        "progress": 40,
        "message": "",
        "error": "",
    }
    # In a thread of its own: the browser tests leave an event loop in this one.
    send = async_to_sync(get_channel_layer().group_send)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(send, f"jobs.{alice.pk}", {"type": "job.event", "job": event}).result()
    for sock in sockets:
        assert sock.receive_json() == {"type": "job", "job": event}
        sock.close()

    # A process that dies is replaced; the port keeps answering meanwhile.
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 90
    seen: set[int] = set()
    while time.monotonic() < deadline and len(seen - {victim}) < 2:
        with contextlib.suppress(OSError):
            seen.add(_pid(url, key))
        time.sleep(0.1)
    assert len(seen - {victim}) == 2
    served.pids |= seen
