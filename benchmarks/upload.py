"""A signed-in upload's cost to the server, this checkout beside an earlier revision.

Starts Daphne on this checkout and on a git worktree of REV (default: the last commit before
Twisted's own parse of form bodies was turned off), POSTs a multipart video job of SIZE_MB
(zero bytes, so the job itself is refused as an unreadable video once the upload is in) to
/api/v1/jobs with an API token, and prints the server's resident memory before and at its
peak, the time to the answer, and the longest wait of /healthz, asked every 50 ms meanwhile
(one process serves every page and camera of its clients: while it is busy in its event loop,
they all wait). The two servers run one after the other, with production settings.

Usage: .venv/bin/python -m benchmarks.upload [--rev REV] [--size-mb 100]
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
import urllib.request
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


def measure(checkout: Path, size_mb: int) -> tuple[float, float, int, float, float]:
    with local_server(checkout=checkout, warm_up=False) as served:
        time.sleep(2)
        before = rss_mib(served.pid)
        peak, longest = before, 0.0
        done = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_mib(served.pid))
                time.sleep(0.02)

        def ping() -> None:
            nonlocal longest
            while not done.is_set():
                started = time.perf_counter()
                urllib.request.urlopen(served.url + "/healthz", timeout=120).read()
                longest = max(longest, time.perf_counter() - started)
                time.sleep(0.05)

        helpers = [threading.Thread(target=watch), threading.Thread(target=ping)]
        for helper in helpers:
            helper.start()
        status, seconds = _post(int(served.url.rsplit(":", 1)[1]), served.token, size_mb)
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
        print(f"signed-in multipart POST of {args.size_mb} MB to /api/v1/jobs")
        header = ("server", "RSS before", "RSS peak", "growth", "status", "s", "healthz max")
        print("{:<24}{:>12}{:>12}{:>10}{:>8}{:>8}{:>13}".format(*header))
        servers = ((f"before ({args.rev})", worktree), ("this checkout", REPO_ROOT))
        for label, checkout in servers:
            before, peak, status, seconds, longest = measure(checkout, args.size_mb)
            print(
                f"{label:<24}{before:>10.0f}MB{peak:>10.0f}MB{peak - before:>8.0f}MB"
                f"{status:>8}{seconds:>8.1f}{longest * 1000:>11.0f}ms"
            )


if __name__ == "__main__":
    main()
