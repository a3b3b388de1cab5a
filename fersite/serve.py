"""Serve the site with N Daphne processes behind one port: `python -m fersite.serve -w 2`.

Each process gets its own listening socket, all bound to the same address with SO_REUSEPORT, so
the kernel spreads connections evenly over them (by client address and port); websockets of
one user may land on different processes and still share events through the Redis channel
layer (REDIS_URL is required with more than one process). Each process loads its own models
(ML_WARMUP=true loads them at start). A process that exits is started again, after a wait that
doubles while it keeps failing; SIGTERM or SIGINT stops them all, and children die with this
process if it is killed. `--pin` holds each process to one of the CPUs this one may use, for
measuring. IPv4 only: Daphne adopts an inherited socket as IPv4.

The Procfile's `web` line runs this command.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

# A child that fails again waits twice as long, up to MAX_RESTART_DELAY; one that ran for
# STABLE_SECONDS counts as healthy again.
RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
STABLE_SECONDS = 30.0
PR_SET_PDEATHSIG = 1


def _say(message: str) -> None:
    sys.stderr.write(f"serve: {message}\n")
    sys.stderr.flush()


def _listener(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def _child_setup(parent: int, cpu: int | None) -> Callable[[], None]:
    """Run in the child before Daphne starts: die with the supervisor, and keep to ``cpu``."""

    def setup() -> None:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os._exit(1)
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    return setup


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0912, PLR0915 - one loop, top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "-w", "--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2"))
    )
    parser.add_argument("-b", "--bind", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--pin", action="store_true", help="hold each process to one CPU")
    parser.add_argument(
        "daphne_args", nargs="*", help="options for each Daphne (after --), e.g. --proxy-headers"
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if ":" in args.bind:
        parser.error("--bind takes an IPv4 address (Daphne adopts inherited sockets as IPv4)")
    if args.workers > 1 and not os.environ.get("REDIS_URL"):
        parser.error("more than one process needs REDIS_URL (the channel layer they share)")

    cpus = sorted(os.sched_getaffinity(0))
    sockets = [_listener(args.bind, args.port) for _ in range(args.workers)]
    children: dict[int, subprocess.Popen[bytes]] = {}
    started_at: dict[int, float] = {}
    delays = dict.fromkeys(range(args.workers), RESTART_DELAY)
    due: dict[int, float] = {}
    stopping = False

    def start(index: int) -> None:
        sock = sockets[index]
        command = [sys.executable, "-m", "daphne", "--fd", str(sock.fileno())]
        command += [*args.daphne_args, "fersite.asgi:application"]
        cpu = cpus[index % len(cpus)] if args.pin else None
        # preexec_fn is safe here: the supervisor runs no other thread.
        children[index] = subprocess.Popen(  # noqa: S603 - our own server command
            command,
            pass_fds=(sock.fileno(),),
            preexec_fn=_child_setup(os.getpid(), cpu),  # noqa: PLW1509
        )
        started_at[index] = time.monotonic()
        pinned = f" on CPU {cpu}" if cpu is not None else ""
        _say(f"process {index} is pid {children[index].pid}{pinned}")

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for index in range(args.workers):
            if not stopping:
                start(index)
        _say(f"{args.workers} processes on http://{args.bind}:{args.port}/")
        while not stopping:
            time.sleep(0.2)
            now = time.monotonic()
            for index, child in list(children.items()):
                if child.poll() is None or index in due:
                    continue
                if now - started_at[index] > STABLE_SECONDS:
                    delays[index] = RESTART_DELAY
                _say(
                    f"process {index} (pid {child.pid}) exited ({child.returncode}); "
                    f"starting it again in {delays[index]:.0f} s"
                )
                due[index] = now + delays[index]
                delays[index] = min(MAX_RESTART_DELAY, delays[index] * 2)
            for index, when in list(due.items()):
                if when <= now and not stopping:
                    del due[index]
                    start(index)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
