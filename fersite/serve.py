"""Serve the site with N Daphne processes behind one port: `python -m fersite.serve -w 2`.

Each process gets its own listening socket, all bound to the same address with SO_REUSEPORT, so
the kernel spreads connections evenly over them (by client address and port); websockets of
one user may land on different processes and still share events through the Redis channel
layer (REDIS_URL is required with more than one process). Each process loads its own models
(ML_WARMUP=true loads them at start). A process that exits is started again; SIGTERM or SIGINT
stops them all. `--pin` holds process i to CPU i (modulo the CPUs), for measuring.

The same command serves a Procfile (`web: .venv/bin/python -m fersite.serve ...`) or the
systemd unit in deploy/; README's "Production" section gives the recipe.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

RESTART_DELAY = 1.0


def _say(message: str) -> None:
    sys.stderr.write(f"serve: {message}\n")
    sys.stderr.flush()


def _listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def _command(sock: socket.socket, index: int, *, pin: bool, extra: list[str]) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "daphne",
        "--fd",
        str(sock.fileno()),
        *extra,
        "fersite.asgi:application",
    ]
    taskset = shutil.which("taskset")
    if pin and taskset:
        command = [taskset, "-c", str(index % (os.cpu_count() or 1)), *command]
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "-w", "--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2"))
    )
    parser.add_argument("-b", "--bind", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--pin", action="store_true", help="hold process i to CPU i")
    parser.add_argument(
        "daphne_args",
        nargs="*",
        help="more options for each Daphne (after --), e.g. --proxy-headers",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.workers > 1 and not os.environ.get("REDIS_URL"):
        parser.error("more than one process needs REDIS_URL (the channel layer they share)")

    sockets = [_listener(args.bind, args.port) for _ in range(args.workers)]
    children: dict[int, subprocess.Popen[bytes]] = {}
    stopping = False

    def start(index: int) -> None:
        command = _command(sockets[index], index, pin=args.pin, extra=args.daphne_args)
        children[index] = subprocess.Popen(command, pass_fds=(sockets[index].fileno(),))  # noqa: S603
        _say(f"process {index} is pid {children[index].pid}")

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(args.workers):
        start(index)
    _say(f"{args.workers} processes on http://{args.bind}:{args.port}/")
    while not stopping:
        time.sleep(0.5)
        for index, child in list(children.items()):
            if child.poll() is not None and not stopping:
                _say(f"process {index} (pid {child.pid}) exited ({child.returncode}); restarting")
                time.sleep(RESTART_DELAY)
                start(index)
    deadline = time.monotonic() + 20
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
