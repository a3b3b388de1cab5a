"""Requests per second and p95 of POST /api/v1/analyze with K concurrent API clients, for one
server process on both cores, one held to one core, and two processes held to one core each
(the site's own multi-process server, fersite.serve, with a throwaway Redis between them).

Usage: .venv/bin/python -m benchmarks.load [--clients 4] [--seconds 30] [--tta 3]
       .venv/bin/python -m benchmarks.load --enhancement [--peer-rev REV]

The peer is the same server with one process: scaling out is measured against it, in the same
run. Each setup starts fresh (SQLite, warm models) and gets a warm-up before it is timed.

With --enhancement: the p95 of the clients' analyses on one server process (both cores), alone
and while another client has one Real-ESRGAN enhancement after another analysed (POST
/api/v1/analyze with enhance=realesrgan), for this checkout and for REV (default: the last
revision where every model call of a process queued in one thread), in turn.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import threading
import time
from contextlib import ExitStack
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.latency import _free_port, local_server, percentile, post_analyze
from benchmarks.peers import REPO_ROOT, SHARED, revision_checkout

IMAGE = SHARED / "scenes" / "astronaut.png"
# The last revision with one model thread per process (before the lanes).
ONE_THREAD_REV = "0c0cc42"


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


def enhancement_effect(
    checkout: Path, *, clients: int, seconds: float, tta: int
) -> tuple[float, float, int]:
    """(p95 alone, p95 while enhancements run, enhancements finished) on ``checkout``."""
    env = {"API_THROTTLE_ANALYZE": "", "ML_THREADS": "2"}
    with local_server(checkout=checkout, env_extra=env) as served:
        hammer(served.url, served.token, clients=clients, seconds=5, tta=tta)
        # The enhancer's model loads on its first use: not while the clients are timed.
        post_analyze(served.url, served.token, IMAGE, 1, enhance="realesrgan")
        _, alone = hammer(served.url, served.token, clients=clients, seconds=seconds, tta=tta)
        stop, finished = threading.Event(), []

        def enhance() -> None:
            while not stop.is_set():
                post_analyze(served.url, served.token, IMAGE, 1, enhance="realesrgan")
                finished.append(1)

        enhancer = threading.Thread(target=enhance)
        enhancer.start()
        time.sleep(2)
        _, loaded = hammer(served.url, served.token, clients=clients, seconds=seconds, tta=tta)
        stop.set()
        enhancer.join()
    return alone, loaded, len(finished)


def enhancement_main(args: argparse.Namespace) -> None:
    print(
        f"{args.clients} clients posting {IMAGE.name} (tta={args.tta}) to one process on 2 cores, "
        "alone and while another client has Real-ESRGAN enhancements analysed:"
    )
    with revision_checkout(args.peer_rev) as before:
        for label, checkout in (
            ("ours", REPO_ROOT),
            (f"one model thread ({args.peer_rev})", before),
        ):
            alone, loaded, finished = enhancement_effect(
                checkout, clients=args.clients, seconds=args.seconds, tta=args.tta
            )
            print(
                f"{label:28} p95 {alone:6.0f} ms alone, {loaded:6.0f} ms with enhancements "
                f"({(loaded - alone) / alone:+.0%}; {finished} enhancements finished meanwhile)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--tta", type=int, default=3)
    parser.add_argument("--enhancement", action="store_true")
    parser.add_argument("--peer-rev", default=ONE_THREAD_REV)
    args = parser.parse_args()
    if args.enhancement:
        enhancement_main(args)
        return
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
