"""Large uploads and downloads: what they cost the server, this checkout beside an earlier
revision (default: the last commit before Twisted's own parse of form bodies was turned off
and responses were paced to the client).

Starts Daphne on each (one after the other, production settings, its own SQLite database) and:
- **upload**: POSTs a multipart video job of SIZE_MB (zero bytes, so the job itself is refused
  as an unreadable video once the upload is in) to /api/v1/jobs with an API token;
- **slow download**: GETs a job's stored video of SIZE_MB with a client that reads nothing for
  5 s (a paused video), then closes;
- **fast download**: GETs it again and reads it all as fast as it can.
For each, the server's resident memory before and at its peak, the time, and the longest wait
of /healthz, asked every 50 ms meanwhile (one process serves every page and camera of its
clients: while its event loop is busy, they all wait).

Usage: .venv/bin/python -m benchmarks.transfer [--rev REV] [--size-mb 100]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from benchmarks.latency import local_server, rss_mib
from benchmarks.peers import revision_checkout

REPO_ROOT = Path(__file__).resolve().parent.parent
CHUNK = b"\0" * (1024 * 1024)
BOUNDARY = "upload-benchmark-boundary"


def _post(port: int, token: str, size_mb: int) -> tuple[int, float]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nvideo\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="clip.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(head) + size_mb * len(CHUNK) + len(tail)
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
        sock.sendall(
            f"POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n".encode()
            + head
        )
        for _ in range(size_mb):
            sock.sendall(CHUNK)
        sock.sendall(tail)
        answer = b""
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    status = int(answer.split()[1]) if answer else 0
    return status, time.perf_counter() - started


def _download(port: int, token: str, job: int, *, stall: float) -> tuple[int, float]:
    """GET the job's video: read nothing for ``stall`` seconds (0: read all of it at once)."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
        if stall:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(
            f"GET /api/v1/jobs/{job}/files/video HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Token {token}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = sock.recv(4096)
        status = int(answer.split()[1]) if answer else 0
        if stall:
            time.sleep(stall)
        else:
            while sock.recv(1024 * 1024):
                pass
    return status, time.perf_counter() - started


def _stored_video(env: dict[str, str], checkout: Path, size_mb: int) -> int:
    """A finished video job of bench@example.org whose video is SIZE_MB; its id."""
    script = (
        "from django.core.files.base import ContentFile; "
        "from django.core.files.storage import default_storage; "
        "from accounts.models import User; from archive.models import Job; "
        f"name = default_storage.save('jobs/bench.mp4', ContentFile(bytes({size_mb} << 20))); "
        "job = Job.objects.create(owner=User.objects.get(email='bench@example.org'), "
        "kind='video', state='done', files={'video': name}); print(job.pk)"
    )
    python = str(REPO_ROOT / ".venv" / "bin" / "python")
    output = subprocess.run(
        [python, "manage.py", "shell", "-c", script],
        cwd=checkout,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(output.strip().splitlines()[-1])


def measure(checkout: Path, size_mb: int) -> dict[str, tuple[float, float, int, float, float]]:
    """For each transfer: RSS before, RSS peak, status, seconds, longest /healthz wait."""
    with tempfile.TemporaryDirectory() as folder:
        env = {
            "DJANGO_SETTINGS_MODULE": "fersite.settings",
            "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
            "MEDIA_ROOT": f"{folder}/media",
        }
        with local_server(checkout=checkout, warm_up=False, env_extra=env) as served:
            job = _stored_video(env, checkout, size_mb)
            port, token = int(served.url.rsplit(":", 1)[1]), served.token
            transfers: dict[str, Callable[[], tuple[int, float]]] = {
                "upload": lambda: _post(port, token, size_mb),
                "slow download": lambda: _download(port, token, job, stall=5),
                "fast download": lambda: _download(port, token, job, stall=0),
            }
            return {
                name: watched(served.pid, served.url, transfer)
                for name, transfer in transfers.items()
            }


def watched(
    pid: int, url: str, transfer: Callable[[], tuple[int, float]]
) -> tuple[float, float, int, float, float]:
    """Run ``transfer`` (it returns a status and its seconds) against the server ``pid`` at
    ``url``: the server's RSS before and at its peak, the status, the seconds, and the longest
    wait of /healthz meanwhile. A second before and after lets the server settle."""
    time.sleep(2)
    before = rss_mib(pid)
    peak, longest = before, 0.0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib(pid))
            time.sleep(0.02)

    def ping() -> None:
        nonlocal longest
        while not done.is_set():
            started = time.perf_counter()
            urllib.request.urlopen(url + "/healthz", timeout=120).read()
            longest = max(longest, time.perf_counter() - started)
            time.sleep(0.05)

    helpers = [threading.Thread(target=watch), threading.Thread(target=ping)]
    for helper in helpers:
        helper.start()
    status, seconds = transfer()
    time.sleep(1)
    done.set()
    for helper in helpers:
        helper.join()
    return before, peak, status, seconds, longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rev", default="4a0c4ba", help="the earlier revision to compare")
    parser.add_argument("--size-mb", type=int, default=100)
    args = parser.parse_args()
    with revision_checkout(args.rev) as worktree:
        print(f"{args.size_mb} MB up and down, with a token")
        header = ("transfer", "server", "RSS before", "RSS peak", "growth", "status", "s")
        print("{:<15}{:<20}{:>12}{:>12}{:>10}{:>8}{:>8}{:>13}".format(*header, "healthz max"))
        servers = ((f"before ({args.rev})", worktree), ("this checkout", REPO_ROOT))
        results = {label: measure(checkout, args.size_mb) for label, checkout in servers}
        for transfer in next(iter(results.values())):
            for label, measured in results.items():
                before, peak, status, seconds, longest = measured[transfer]
                print(
                    f"{transfer:<15}{label:<20}{before:>10.0f}MB{peak:>10.0f}MB"
                    f"{peak - before:>8.0f}MB{status:>8}{seconds:>8.1f}{longest * 1000:>11.0f}ms"
                )


if __name__ == "__main__":
    main()
