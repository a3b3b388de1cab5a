"""Server memory for an oversized anonymous upload, this checkout beside an earlier revision.

Starts Daphne on this checkout and on a git worktree of REV (default: the last commit before
the request body limit), POSTs a body of SIZE_MB to /api/v1/analyze with no credentials,
and prints the server's resident memory before and at its peak while the request runs, with
the status and the time to the answer. The two servers run one after the other, each on its
own SQLite database, with production settings.

Usage: .venv/bin/python -m benchmarks.body_memory [--rev REV] [--size-mb 300]
"""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

from benchmarks.latency import local_server
from benchmarks.peers import revision_checkout
from benchmarks.transfer import watched

REPO_ROOT = Path(__file__).resolve().parent.parent
CHUNK = b"\0" * (1024 * 1024)


def _post(port: int, size_mb: int) -> tuple[int, float]:
    """Send the body (as far as the server lets it) and read the status line."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(
            f"POST /api/v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {size_mb * len(CHUNK)}"
            "\r\nConnection: close\r\n\r\n".encode()
        )
        try:
            for _ in range(size_mb):
                sock.sendall(CHUNK)
        except OSError:
            pass  # refused early: the answer is waiting
        answer = b""
        while b"\r\n" not in answer:
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    status = int(answer.split()[1]) if answer else 0
    return status, time.perf_counter() - started


def measure(checkout: Path, size_mb: int) -> tuple[float, float, int, float]:
    # No warm-up: loading the models meanwhile would be counted as the request's memory.
    with local_server(checkout=checkout, warm_up=False) as served:
        port = int(served.url.rsplit(":", 1)[1])
        before, peak, status, seconds, _ = watched(
            served.pid, served.url, lambda: _post(port, size_mb)
        )
        return before, peak, status, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rev", default="77cba21", help="the earlier revision to compare")
    parser.add_argument("--size-mb", type=int, default=300)
    args = parser.parse_args()
    with revision_checkout(args.rev) as worktree:
        print(f"anonymous POST of {args.size_mb} MB to /api/v1/analyze")
        header = ("server", "RSS before", "RSS peak", "growth", "status", "s")
        print("{:<24}{:>12}{:>12}{:>10}{:>8}{:>8}".format(*header))
        servers = ((f"before ({args.rev})", worktree), ("this checkout", REPO_ROOT))
        for label, checkout in servers:
            before, peak, status, seconds = measure(checkout, args.size_mb)
            print(
                f"{label:<24}{before:>10.0f}MB{peak:>10.0f}MB{peak - before:>8.0f}MB"
                f"{status:>8}{seconds:>8.1f}"
            )


if __name__ == "__main__":
    main()
