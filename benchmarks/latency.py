"""Latency of POST /api/v1/analyze (tta=10) against a running server, beside plain fer in-process.

Usage: .venv/bin/python benchmarks/latency.py [--url URL --token TOKEN] [--runs N]

Without --url it starts a Daphne server itself on a free port (production settings, SQLite in
a temporary folder, models warmed at start) and creates a user and an API token for the run.
Plain fer runs in this process on the same images, with Haar and with MTCNN, in turn with the
API calls. It prints p50 and p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from analysis.ml.images import decode_image
from benchmarks.peers import REPO_ROOT, SHARED, fer_faces, plain_fer

ASGI_APP = "fersite.asgi:application"
IMAGES = {
    "1 face, 512x512": SHARED / "scenes" / "astronaut.png",
    "2 faces, 2280x1588": SHARED / "scenes" / "couple.jpg",
    "1 face, 1536x2048": SHARED / "scenes" / "single_large.jpg",
}


PAUSE = 0.2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served(NamedTuple):
    url: str
    token: str
    pid: int


@contextmanager
def local_server(
    *,
    checkout: Path = REPO_ROOT,
    warm_up: bool = True,
    processes: int = 0,
    pin: bool = False,
    env_extra: dict[str, str] | None = None,
) -> Iterator[Served]:
    """A Daphne server of ``checkout`` (this one by default: another is a git worktree of an
    earlier revision, run with this checkout's environment) on a free port, with a fresh
    SQLite database and an API token; production settings. With ``processes``, the site's own
    multi-process server (fersite.serve) with that many processes (``pin``: one CPU each);
    ``env_extra`` adds variables (REDIS_URL, which is dropped otherwise)."""
    python = str(REPO_ROOT / ".venv" / "bin" / "python")
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fersite.settings",
            "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
            "MEDIA_ROOT": f"{folder}/media",
            "ML_MODELS_DIR": str(REPO_ROOT / "models"),
            "ML_WARMUP": "true" if warm_up else "false",
            # As deployed: DEBUG off (it records every query and keeps more per request).
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        }
        env.pop("REDIS_URL", None)
        env.update(env_extra or {})
        subprocess.run(
            [python, "manage.py", "migrate", "--noinput"],
            cwd=checkout,
            env=env,
            check=True,
            capture_output=True,
        )
        script = (
            "from accounts.models import User; "
            "User.objects.create_user('bench@example.org', None, username='bench')"
        )
        for command in (["shell", "-c", script], ["drf_create_token", "bench@example.org"]):
            output = subprocess.run(
                [python, "manage.py", *command],
                cwd=checkout,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        # "Generated token KEY for user bench"
        token = output.strip().splitlines()[-1].split()[2]
        port = _free_port()
        if processes:
            command = [python, "-m", "fersite.serve", "-w", str(processes), "-p", str(port)]
            command += ["--pin"] if pin else []
        else:
            command = [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            command += ["fersite.asgi:application"]
        server = subprocess.Popen(
            command,
            cwd=checkout,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=2)
                    break
                except OSError:
                    time.sleep(0.2)
            yield Served(url, token, server.pid)
        finally:
            server.terminate()
            try:
                server.wait(timeout=40)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def post_analyze(url: str, token: str, image: Path, tta: int, **fields: str) -> None:
    boundary = uuid.uuid4().hex
    extra = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    )
    body = (
        (
            extra + f'--{boundary}\r\nContent-Disposition: form-data; name="tta"\r\n\r\n{tta}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
            f'filename="{image.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + image.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url + "/api/v1/analyze",
        data=body,
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        if response.status != 200:
            raise RuntimeError(f"analyze answered {response.status}")
        response.read()


def interleaved(
    calls: dict[str, Callable[[], object]], runs: int, warmup: int = 3
) -> dict[str, list[float]]:
    """Milliseconds of each call over ``runs`` rounds, every round calling each once in turn,
    so that a change in the machine's load weighs on all of them alike."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    millis: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            time.sleep(PAUSE)
            started = time.perf_counter()
            call()
            millis[name].append((time.perf_counter() - started) * 1000)
    return millis


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server; default: start one")
    parser.add_argument("--token", help="an API token for --url")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tta", type=int, default=10)
    args = parser.parse_args()

    peers = {"plain fer, Haar": plain_fer(mtcnn=False), "plain fer, MTCNN": plain_fer(mtcnn=True)}
    pixels = {label: decode_image(path.read_bytes()).pixels for label, path in IMAGES.items()}
    rows: list[tuple[str, str, list[float]]] = []
    server = local_server() if args.url is None else _given(args.url, args.token or "")
    with server as (url, token, _):
        for label, path in IMAGES.items():
            calls: dict[str, Callable[[], object]] = {
                f"{name} (in-process)": lambda d=detector, p=pixels[label]: fer_faces(d, p)
                for name, detector in peers.items()
            }
            calls[f"ours, API, tta={args.tta}"] = lambda p=path: post_analyze(
                url, token, p, args.tta
            )
            for name, times in interleaved(calls, args.runs).items():
                rows.append((label, name, times))

    print(f"{'image':<20} {'method':<30} {'p50 ms':>8} {'p95 ms':>8}")
    for label in IMAGES:
        mtcnn_p50 = statistics.median(
            next(t for lab, name, t in rows if lab == label and name.startswith("plain fer, MTCNN"))
        )
        for lab, name, times in rows:
            if lab != label:
                continue
            p50 = statistics.median(times)
            ratio = f"  ({p50 / mtcnn_p50:.2f}x fer+MTCNN)" if name.startswith("ours") else ""
            print(f"{lab:<20} {name:<30} {p50:8.1f} {percentile(times, 0.95):8.1f}{ratio}")


@contextmanager
def _given(url: str, token: str) -> Iterator[Served]:
    yield Served(url, token, 0)


if __name__ == "__main__":
    sys.exit(main())
