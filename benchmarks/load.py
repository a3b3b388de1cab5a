"""Requests per second and p95 of POST /api/v1/analyze with K concurrent API clients, for one
server process on both cores, one held to one core, and two processes held to one core each
(the site's own multi-process server, fersite.serve, with a throwaway Redis between them).

Usage: .venv/bin/python -m benchmarks.load [--clients 4] [--seconds 30] [--tta 3]

The peer is the same server with one process: scaling out is measured against it, in the same
run. Each setup starts fresh (SQLite, warm models) and gets a warm-up before it is timed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import threading
import time
from contextlib import ExitStack

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.latency import _free_port, local_server, percentile, post_analyze
from benchmarks.peers import SHARED

IMAGE = SHARED / "scenes" / "astronaut.png"


def hammer(url: str, token: str, *, clients: int, seconds: float, tta: int) -> tuple[float, float]:
    """(requests per second, p95 ms) of ``clients`` threads posting for ``seconds``."""
    times: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                post_analyze(url, token, IMAGE, tta)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                failures.append(exc)
                continue
            with lock:
                times.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    begun = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]!r}")
    return len(times) / (time.monotonic() - begun), percentile(times, 0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--tta", type=int, default=3)
    args = parser.parse_args()
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise SystemExit("redis-server is needed (scripts/install.sh --dev installs it)")
    setups = [
        ("1 process, 2 cores", {"processes": 0}, {"ML_THREADS": "2"}),
        ("1 process held to 1 core", {"processes": 1, "pin": True}, {"ML_THREADS": "1"}),
        ("2 processes, 1 core each", {"processes": 2, "pin": True}, {"ML_THREADS": "1"}),
    ]
    results = {}
    with ExitStack() as stack:
        port = _free_port()
        redis = subprocess.Popen(
            [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        stack.callback(redis.terminate)
        for name, options, threads in setups:
            env = {
                **threads,
                "REDIS_URL": f"redis://127.0.0.1:{port}/0",
                "API_THROTTLE_ANALYZE": "",
            }
            with local_server(env_extra=env, **options) as served:  # type: ignore[arg-type]
                hammer(served.url, served.token, clients=args.clients, seconds=5, tta=args.tta)
                results[name] = hammer(
                    served.url,
                    served.token,
                    clients=args.clients,
                    seconds=args.seconds,
                    tta=args.tta,
                )
            print(f"{name:28} {results[name][0]:6.2f} req/s   p95 {results[name][1]:7.0f} ms")
    one = results["1 process held to 1 core"][0]
    two = results["2 processes, 1 core each"][0]
    print(
        f"\n{args.clients} clients, POST /api/v1/analyze tta={args.tta}, {IMAGE.name}: "
        f"2 processes serve {two / one:.2f}x the requests of 1 process on 1 core"
    )


if __name__ == "__main__":
    main()
