"""The live camera over its websocket: answered frames per second and latency, for 1 and for
8 clients at once, beside plain fer (MTCNN) analysing the same frames in this process.

Usage: .venv/bin/python -m benchmarks.camera [--seconds 30] [--clients 1 8]

The frames are the real clip ../shared/testdata/video/short_hamilton_clip.mp4 (640x360, 1 to 4
faces), set in a 640x480 frame as a webcam gives it, JPEG at quality 85 as the page sends.
Each client is an API client with one frame in flight, as the page: it sends the next frame of
the clip (looped) as soon as the answer to the last one arrives, so every frame it sends is a
new picture (a real webcam gives 30 a second; the page may send one twice, which the server
answers again from its last analysis; the clip's own repeated frames, a fifth, are answered
so). A server of this checkout is started (Daphne, one process, production settings, models
warmed). Plain fer runs between our phases, on the same frames in turn. Resident memory of the
server is read from /proc after each phase.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np

from analysis.ml import video
from analysis.ml.images import encode_jpeg
from benchmarks.latency import local_server, percentile, rss_mib
from benchmarks.peers import SHARED, fer_faces, plain_fer
from benchmarks.wsclient import WebSocket

CLIP = SHARED / "video" / "short_hamilton_clip.mp4"
CLIP_FPS = 30.0


def webcam_frames(path: Path = CLIP) -> list[np.ndarray]:
    """Every frame of ``path``, set in the middle of a 640x480 frame."""
    frames = []
    for frame in video.sampled_frames(path, fps=CLIP_FPS, max_seconds=60, max_pixels=10**7):
        pixels = frame.pixels
        height, width = pixels.shape[:2]
        scale = min(640 / width, 480 / height)
        small = cv2.resize(pixels, (round(width * scale), round(height * scale)))
        canvas = np.zeros((480, 640, 3), dtype=np.uint8)
        top, left = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
        canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
        frames.append(canvas)
    return frames


class ClientRun:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.repeated = 0
        self.faces = 0
        self.errors: list[str] = []


def stream(url: str, token: str, jpegs: list[bytes], *, seconds: float, first: int) -> ClientRun:
    """One client for ``seconds``, from frame ``first`` on: one frame in flight."""
    run = ClientRun()
    socket = WebSocket(url, "/ws/camera/", token)
    try:
        socket.receive_json()  # ready
        stop_at = time.monotonic() + seconds
        index = first
        while time.monotonic() < stop_at:
            index = (index + 1) % len(jpegs)
            sent = time.perf_counter()
            socket.send_binary(jpegs[index])
            answer = socket.receive_json()
            if answer["type"] != "faces":
                run.errors.append(answer["error"]["code"])
                time.sleep(answer.get("retry_after", 0.1))
                continue
            run.latencies.append((time.perf_counter() - sent) * 1000)
            run.repeated += bool(answer["repeated"])
            run.faces += len(answer["faces"])
    finally:
        socket.close()
    return run


def ours(url: str, token: str, jpegs: list[bytes], *, clients: int, seconds: float) -> str:
    runs: list[ClientRun] = [ClientRun() for _ in range(clients)]
    started = time.monotonic()

    def client(number: int) -> None:
        # Each client starts at another point of the clip, as different people would.
        first = number * len(jpegs) // clients
        runs[number] = stream(url, token, jpegs, seconds=seconds, first=first)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies = [value for run in runs for value in run.latencies]
    per_client = [len(run.latencies) / elapsed for run in runs]
    answered = len(latencies)
    repeated = sum(run.repeated for run in runs)
    errors = sum(len(run.errors) for run in runs)
    return (
        f"{sum(per_client):6.1f} fps total, slowest client {min(per_client):5.1f} fps, "
        f"p50 {percentile(latencies, 0.5):4.0f} ms, p95 {percentile(latencies, 0.95):4.0f} ms "
        f"({repeated / max(1, answered):.0%} answered as unchanged, "
        f"{sum(run.faces for run in runs) / max(1, answered):.1f} faces per frame, "
        f"{errors} busy/errors)"
    )


def peer(
    detector: object, frames: list[np.ndarray], *, seconds: float
) -> tuple[float, list[float]]:
    """Plain fer on one frame after the other, in this process, for ``seconds``."""
    latencies: list[float] = []
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        frame = frames[len(latencies) % len(frames)]
        begun = time.perf_counter()
        fer_faces(detector, frame)
        latencies.append((time.perf_counter() - begun) * 1000)
    return len(latencies) / (time.monotonic() - started), latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    frames = webcam_frames()
    jpegs = [encode_jpeg(frame, quality=85) for frame in frames]
    print(
        f"{len(frames)} frames of {CLIP.name} in 640x480, "
        f"{statistics.mean(len(j) for j in jpegs) / 1024:.0f} KiB each as JPEG"
    )
    fer_mtcnn = plain_fer(mtcnn=True)
    peer(fer_mtcnn, frames, seconds=3)  # warm-up
    with local_server(env_extra={"ML_WARMUP": "true"}) as served:
        ours(served.url, served.token, jpegs, clients=1, seconds=5)  # warm-up of the stream
        print(f"server at rest after warm-up: {rss_mib(served.pid):.0f} MiB resident")
        for clients in args.clients:
            fps, latencies = peer(fer_mtcnn, frames, seconds=args.seconds / 2)
            print(
                f"plain fer (MTCNN), in-process:  {fps:6.1f} fps, p50 "
                f"{percentile(latencies, 0.5):4.0f} ms, p95 {percentile(latencies, 0.95):4.0f} ms"
            )
            line = ours(served.url, served.token, jpegs, clients=clients, seconds=args.seconds)
            print(f"ours, {clients} client(s) over /ws/camera/: {line}")
            print(f"server resident memory: {rss_mib(served.pid):.0f} MiB")


if __name__ == "__main__":
    main()
