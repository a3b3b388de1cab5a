"""Resident memory of one server process: at rest, after 1,000 analyses, and minute by minute
over a long live-camera run (it must stay flat), beside plain fer's process doing the same
analyses in this process.

Usage: .venv/bin/python -m benchmarks.memory [--analyses 1000] [--camera-minutes 10]
       [--camera-clients 2]

A server of this checkout is started (Daphne, one process, production settings, models warmed).
The analyses are POST /api/v1/analyze of a real photo (tta=10), from 4 clients at once; the
camera run streams the real clip from ``--camera-clients`` websocket clients (see
benchmarks.camera). Resident memory is read from /proc.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from analysis.ml.images import decode_image, encode_jpeg
from benchmarks.camera import ClientRun, stream, webcam_frames
from benchmarks.latency import local_server, post_analyze, rss_mib
from benchmarks.peers import SHARED, fer_faces, plain_fer

PHOTO = SHARED / "scenes" / "astronaut.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--analyses", type=int, default=1000)
    parser.add_argument("--camera-minutes", type=float, default=10)
    parser.add_argument("--camera-clients", type=int, default=2)
    args = parser.parse_args()

    fer_mtcnn = plain_fer(mtcnn=True)
    pixels = decode_image(PHOTO.read_bytes()).pixels
    fer_faces(fer_mtcnn, pixels)
    peer_rest = rss_mib(os.getpid())
    for _ in range(args.analyses):
        fer_faces(fer_mtcnn, pixels)
    print(
        f"plain fer (MTCNN), this process: {peer_rest:.0f} MiB after one analysis, "
        f"{rss_mib(os.getpid()):.0f} MiB after {args.analyses} more"
    )

    with local_server(env_extra={"ML_WARMUP": "true", "API_THROTTLE_ANALYZE": ""}) as served:
        post_analyze(served.url, served.token, PHOTO, 10)
        print(f"ours, at rest (models warm, one analysis): {rss_mib(served.pid):.0f} MiB")
        with ThreadPoolExecutor(4) as pool:
            list(
                pool.map(
                    lambda _: post_analyze(served.url, served.token, PHOTO, 10),
                    range(args.analyses),
                )
            )
        print(f"ours, after {args.analyses} analyses: {rss_mib(served.pid):.0f} MiB")

        jpegs = [encode_jpeg(frame, quality=85) for frame in webcam_frames()]
        seconds = args.camera_minutes * 60
        runs: list[ClientRun] = []
        threads = [
            threading.Thread(
                target=lambda n=n: runs.append(
                    stream(
                        served.url,
                        served.token,
                        jpegs,
                        seconds=seconds,
                        first=n * len(jpegs) // args.camera_clients,
                    )
                )
            )
            for n in range(args.camera_clients)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        samples = []
        while any(thread.is_alive() for thread in threads):
            time.sleep(min(60.0, max(1.0, seconds / 10)))
            samples.append((time.monotonic() - started, rss_mib(served.pid)))
            print(f"  camera, {samples[-1][0] / 60:4.1f} min: {samples[-1][1]:.0f} MiB")
        for thread in threads:
            thread.join()
        frames = sum(len(run.latencies) for run in runs)
        first, last = samples[0][1], samples[-1][1]
        print(
            f"ours, {args.camera_clients} camera clients for {args.camera_minutes:g} min "
            f"({frames} frames): {first:.0f} MiB after the first sample, {last:.0f} MiB at the "
            f"end ({(last - first) / first:+.1%}), highest {max(s for _, s in samples):.0f} MiB"
        )


if __name__ == "__main__":
    main()
