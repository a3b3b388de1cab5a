"""Video jobs: compute per second of video beside plain fer's own video analysis, and the job
queue's responsiveness and throughput with real Celery workers.

Usage: .venv/bin/python benchmarks/video.py [--rounds N] [--jobs N] [--skip-queue]

1. Compute: ../shared/testdata/video/short_hamilton_clip.mp4 analysed in this process by our
   video analysis (analysis.services.video_analyse: detection, 4 TTA passes, tracking) and by
   ``fer.Video.analyze`` with fer's MTCNN (every 6th frame for 5 per second, every frame for
   30), interleaved, after a warm-up of both. Seconds of compute per second of video, faces
   found, and our tracks.
2. Queue: a throwaway Redis and SQLite, 1 then 2 `celery -A fersite worker` processes; the
   time from submitting a video job to its first progress event on the channel layer (what
   the page receives), and batch jobs finished per minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TQDM_DISABLE", "1")  # fer.Video draws a progress bar per run

from benchmarks.peers import REPO_ROOT, SHARED, plain_fer

CLIP = SHARED / "video" / "short_hamilton_clip.mp4"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is needed (scripts/install.sh --dev installs it)")
    return path


def ours(fps: int) -> dict[str, Any]:
    from analysis import services

    started = time.perf_counter()
    result = services.video_analyse(CLIP, fps=fps)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "per_video_second": seconds / result.info.duration,
        "frames": len(result.frames),
        "faces": sum(len(frame.faces) for frame in result.frames),
        "tracks": len(result.tracks),
    }


def peer(fps: int, detector: Any, duration: float) -> dict[str, Any]:
    import fer.classes
    from fer.classes import Video

    # fer.Video polls cv2.waitKey on every frame (for a window it shows only with display=True)
    # and closes windows when collected; opencv-headless has no GUI and raises on both.
    fer.classes.cv2.waitKey = lambda *args: -1
    fer.classes.cv2.destroyAllWindows = lambda: None
    # fer writes its rows to ./data.csv whatever outdir says: run it inside the throwaway folder.
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        video = Video(str(CLIP), outdir=folder)
        started = time.perf_counter()
        rows = video.analyze(
            detector,
            display=False,
            frequency=max(1, round(29.97 / fps)),
            save_frames=False,
            save_video=False,
            annotate_frames=False,
            zip_images=False,
        )
        seconds = time.perf_counter() - started
    faces = sum(1 for row in rows for key in row if key.startswith("box"))
    return {
        "seconds": seconds,
        "per_video_second": seconds / duration,
        "frames": len(rows),
        "faces": faces,
        "tracks": None,
    }


def compute(rounds: int) -> None:
    import django

    django.setup()
    from analysis.ml.video import probe

    duration = probe(CLIP, max_seconds=3600, max_pixels=10**8).duration
    detector = plain_fer(mtcnn=True)
    ours(5)  # warm-up: load every model once
    peer(5, detector, duration)
    table: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for _ in range(rounds):
        for fps in (5, 30):
            table.setdefault(("ours", fps), []).append(ours(fps))
            table.setdefault(("fer.Video (MTCNN)", fps), []).append(peer(fps, detector, duration))
    print(f"\n{CLIP.name}: {duration:.2f} s of 640x360 video, {rounds} round(s), interleaved")
    print(f"{'':22} {'fps':>4} {'s per video s':>14} {'frames':>7} {'faces':>6} {'tracks':>7}")
    for (name, fps), runs in sorted(table.items(), key=lambda item: (item[0][1], item[0][0])):
        per = statistics.median(run["per_video_second"] for run in runs)
        last = runs[-1]
        tracks = "-" if last["tracks"] is None else str(last["tracks"])
        print(f"{name:22} {fps:>4} {per:>14.2f} {last['frames']:>7} {last['faces']:>6} {tracks:>7}")


def _zip(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((SHARED / "faces").glob("*.jpg"))[:count]:
            archive.write(path, path.name)
    return buffer.getvalue()


def queue(jobs: int) -> None:  # noqa: PLR0915 - one scenario, read from top to bottom
    folder = Path(tempfile.mkdtemp(prefix="bench-video-"))
    redis_port = _free_port()
    redis = subprocess.Popen(
        [_program("redis-server"), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fersite.settings",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/1",
        "MEDIA_ROOT": str(folder / "media"),
        "JOBS_MAX_ACTIVE": "1000",
    }
    os.environ.update(env)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        time.sleep(0.5)
        python = str(REPO_ROOT / ".venv/bin/python")
        subprocess.run(
            [python, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO_ROOT, env=env, check=True
        )
        import django

        django.setup()
        from django.core.files.uploadedfile import SimpleUploadedFile

        from accounts.models import User
        from archive.job_kinds import job_create
        from archive.models import Job
        from fersite.celery import worker_command

        owner = User.objects.create(username="bench", email="bench@example.org")
        clip = CLIP.read_bytes()
        photos = _zip(4)

        def start_worker(number: int) -> None:
            log = (folder / f"worker{number}.log").open("wb")
            workers.append(
                subprocess.Popen(
                    [
                        _program("taskset"),
                        "-c",
                        str(number % (os.cpu_count() or 1)),
                        *worker_command(f"bench{number}@%h"),
                    ],
                    cwd=REPO_ROOT,
                    env={**env, "ML_THREADS": "1"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            deadline = time.monotonic() + 120
            while b" ready." not in (folder / f"worker{number}.log").read_bytes():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {number} did not start")
                time.sleep(0.2)

        def wait(ids: list[int]) -> None:
            while Job.objects.filter(pk__in=ids, finished__isnull=True).exists():
                time.sleep(0.2)
            failed = Job.objects.filter(pk__in=ids).exclude(state=Job.State.DONE)
            if failed.exists():
                raise RuntimeError(f"jobs did not finish done: {list(failed.values('error'))}")

        def batch_round() -> float:
            started = time.perf_counter()
            ids = [
                job_create(
                    owner=owner,
                    kind="batch",
                    files=[SimpleUploadedFile("p.zip", photos)],
                    options={"tta": 10},
                ).pk
                for _ in range(jobs)
            ]
            wait(ids)
            return jobs / ((time.perf_counter() - started) / 60)

        async def first_event(submit: Any) -> tuple[float, float]:
            from channels.layers import get_channel_layer

            from archive.jobs import group_name

            layer = get_channel_layer()
            channel = await layer.new_channel()
            await layer.group_add(group_name(owner.pk), channel)
            started = time.perf_counter()
            job_id = await asyncio.to_thread(submit)
            queued = running = None
            while running is None:
                message = await layer.receive(channel)
                if message["job"]["id"] != job_id:
                    continue
                elapsed = time.perf_counter() - started
                if message["job"]["state"] == "queued" and queued is None:
                    queued = elapsed
                if message["job"]["state"] == "running" and message["job"]["progress"] > 0:
                    running = elapsed
            await asyncio.to_thread(wait, [job_id])
            return queued or 0.0, running

        def submit_video() -> int:
            from django.db import close_old_connections

            close_old_connections()
            return job_create(
                owner=owner,
                kind="video",
                files=[SimpleUploadedFile("clip.mp4", clip)],
                options={"fps": 5, "tta": 4},
            ).pk

        def cancel_to_free() -> float:
            """From cancelling a running video job to the worker starting the next job."""
            from archive.jobs import job_cancel

            long_job = job_create(
                owner=owner,
                kind="video",
                files=[SimpleUploadedFile("clip.mp4", clip)],
                options={"fps": 30, "tta": 4},
            )
            while not Job.objects.filter(pk=long_job.pk, progress__gte=10).exists():
                time.sleep(0.05)
            job_cancel(long_job)
            cancelled = time.perf_counter()
            follower = job_create(
                owner=owner,
                kind="batch",
                files=[SimpleUploadedFile("p.zip", _zip(1))],
                options={"tta": 1},
            )
            while not Job.objects.filter(pk=follower.pk, started__isnull=False).exists():
                time.sleep(0.02)
            freed = time.perf_counter() - cancelled
            wait([follower.pk])
            return freed

        start_worker(0)
        batch_round()  # warm-up: the worker loads its models
        events = [asyncio.run(first_event(submit_video)) for _ in range(3)]
        cancels = [cancel_to_free() for _ in range(3)]
        one = batch_round()
        start_worker(1)
        batch_round()
        two = batch_round()
        print("\nJob queue (Celery, Redis, SQLite; workers held to one core each)")
        print(
            "  submit to first event (queued): "
            f"{statistics.median(e[0] for e in events) * 1000:.0f} ms; to first frame's "
            f"progress: {statistics.median(e[1] for e in events) * 1000:.0f} ms (median of 3)"
        )
        print(
            "  cancel of a running video job to the worker starting the next job: "
            + ", ".join(f"{c * 1000:.0f} ms" for c in cancels)
        )
        print(
            f"  batch jobs (4 photos, tta 10) per minute: 1 worker {one:.1f}, 2 workers {two:.1f}"
        )
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        redis.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--skip-queue", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fersite.settings")
    if not args.skip_queue:
        queue(args.jobs)
    compute(args.rounds)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
