"""Running jobs: submit, run with progress, cancel, and notice workers that died.

One code path for both runners: with CELERY_BROKER_URL set, :func:`job_run` runs in a Celery
worker (archive.tasks); without, in a daemon thread of the server process. Either way the job
row is the truth: its state changes only through conditional updates (``state=running``), so a
cancel, a finished job and a sweep never overwrite each other, and the worker finds out it was
cancelled from the same update that reports its progress.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from archive.models import Job

logger = logging.getLogger(__name__)

# Progress is written to the database and sent to the page at most this often (and always when
# the message changes stage: see Progress).
PROGRESS_INTERVAL = 0.25
HEARTBEAT_INTERVAL = 2.0


class JobStopped(Exception):
    """The job is no longer running (cancelled, or failed by a sweep): stop the work."""


class JobRefused(ValueError):
    """A job that cannot be submitted (a bad file, too many jobs): a 4xx for the client."""

    code = "validation_error"
    http_status = 400


class JobFileTooLarge(JobRefused):
    code = "file_too_large"
    http_status = 413


class TooManyJobs(JobRefused):
    code = "too_many_jobs"
    http_status = 429
    retry_after = 30


def group_name(user_id: int) -> str:
    return f"jobs.{user_id}"


def job_event(job: Job) -> dict[str, Any]:
    """What the page needs to draw a job's progress (the result is fetched once done)."""
    return {
        "id": job.pk,
        "kind": job.kind,
        "state": job.state,
        "progress": job.progress,
        "message": job.message,
        "error": job.error,
    }


def _send(owner_id: int, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group_name(owner_id), {"type": "job.event", "job": event})
    except Exception:
        # The page polls as well: a channel layer that is down must not fail the job.
        logger.warning("Could not send a progress event for job %s", event.get("id"), exc_info=True)


def _announce(job_id: int) -> None:
    job = Job.objects.filter(pk=job_id).first()
    if job is not None:
        _send(job.owner_id, job_event(job))


class Progress:
    """Reports a running job's progress; raises JobStopped once the job is no longer running."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._last = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        percent = max(0, min(100, int(fraction * 100)))
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL and percent < 100:
            return
        self._last = now
        message = message[:200]
        updated = Job.objects.filter(pk=self.job.pk, state=Job.State.RUNNING).update(
            progress=percent, message=message, heartbeat=timezone.now()
        )
        if not updated:
            raise JobStopped()
        self.job.progress, self.job.message = percent, message
        _send(self.job.owner_id, job_event(self.job))


@dataclass(frozen=True)
class Outcome:
    """What a job made: its result and files, and a function that saves what it made to the
    archive (run in the transaction that marks the job done)."""

    result: dict[str, Any]
    files: dict[str, str]
    message: str
    # Saves to the archive, in the transaction that marks the job done.
    commit: Callable[[Job], None] | None = None
    # Deletes the files the job made, when it did not end done after all (cancelled last).
    cleanup: Callable[[], object] | None = None


Handler = Callable[[Job, Progress], Outcome]


def _handlers() -> dict[str, Handler]:
    from archive import job_kinds

    return {
        Job.Kind.VIDEO: job_kinds.video_run,
        Job.Kind.BATCH: job_kinds.batch_run,
        Job.Kind.ENHANCE: job_kinds.enhance_run,
    }


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _Heartbeat:
    """Touches the job's heartbeat while a long model call gives no progress."""

    def __init__(self, job_id: int) -> None:
        self._job_id = job_id
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"job-{job_id}-heartbeat", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(HEARTBEAT_INTERVAL):
                try:
                    Job.objects.filter(pk=self._job_id, state=Job.State.RUNNING).update(
                        heartbeat=timezone.now()
                    )
                except Exception:
                    # One failed beat (a lock wait, a lost connection) is not the end: the
                    # next one tries again on a fresh connection.
                    logger.warning("Heartbeat of job %s failed", self._job_id, exc_info=True)
                    connection.close()
        finally:
            connection.close()


def job_run(job_id: int) -> None:
    """Run a queued job to its end (done, failed or cancelled); called by the runner."""
    now = timezone.now()
    started = Job.objects.filter(pk=job_id, state=Job.State.QUEUED).update(
        state=Job.State.RUNNING,
        started=now,
        heartbeat=now,
        worker=worker_name(),
        message="Started",
    )
    if not started:
        return  # Cancelled while queued, or already taken.
    job = Job.objects.get(pk=job_id)
    _send(job.owner_id, job_event(job))
    outcome: Outcome | None = None
    done = False
    try:
        with _Heartbeat(job_id):
            outcome = _handlers()[job.kind](job, Progress(job))
        _finish(job, outcome)
        done = True
    except JobStopped:
        logger.info("Job %s stopped: it was cancelled", job_id)
    except Exception as exc:  # noqa: BLE001 - any error fails the job, said to the user.
        _fail(job_id, exc)
    finally:
        if not done and outcome is not None and outcome.cleanup is not None:
            outcome.cleanup()
        job_discard_pending(job_id)
        _drop_input(job_id)
        _announce(job_id)


def _drop_input(job_id: int) -> None:
    """Delete the upload once the job is over, unless the result shows it (a video is played
    back on its page): a batch's ZIP or a failed job's video would only fill the disk."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or not job.input or not job.finished_state:
        return
    if job.state == Job.State.DONE and job.kind == Job.Kind.VIDEO:
        return
    from archive.services import stored_files_delete

    name = str(job.input.name)
    Job.objects.filter(pk=job_id).update(input="")
    stored_files_delete(job.input.storage, [name])


def _finish(job: Job, outcome: Outcome) -> None:
    with transaction.atomic():
        locked = Job.objects.select_for_update().filter(pk=job.pk).first()
        if locked is None or locked.state != Job.State.RUNNING:
            raise JobStopped()
        if outcome.commit is not None:
            outcome.commit(locked)
        locked.state = Job.State.DONE
        locked.progress = 100
        locked.message = outcome.message[:200]
        locked.result = outcome.result
        locked.files = {**locked.files, **outcome.files}
        locked.finished = timezone.now()
        locked.save()


def _fail(job_id: int, exc: BaseException) -> None:
    if getattr(exc, "code", None) is not None and hasattr(exc, "http_status"):
        # Our own errors (a bad input, missing weights) are written for the user.
        error = str(exc)
    else:
        logger.exception("Job %s failed", job_id)
        error = "The job failed because of an error on the server; it was logged."
    Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(
        state=Job.State.FAILED, error=error[:2000], finished=timezone.now(), message="Failed"
    )


def job_discard_pending(job_id: int) -> None:
    """Delete what an unfinished job saved part way (the photos of a batch): a job that did
    not finish leaves nothing in the archive."""
    from archive.services import analyses_delete

    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.state == Job.State.DONE or job.collection is None:
        return
    collection = job.collection
    analyses_delete(analyses=collection.analyses.filter(pending=True))
    if not collection.analyses.exists():
        collection.delete()


def job_cancel(job: Job) -> Job:
    """Cancel a queued or running job: its state changes at once, its work stops at its next
    progress report (within a second), and what it saved part way is deleted."""
    updated = Job.objects.filter(pk=job.pk, state__in=[Job.State.QUEUED, Job.State.RUNNING]).update(
        state=Job.State.CANCELLED, finished=timezone.now(), message="Cancelled"
    )
    job.refresh_from_db()
    if updated:
        # The worker deletes them too when it stops; this covers a worker that never does.
        job_discard_pending(job.pk)
        _send(job.owner_id, job_event(job))
    return job


def jobs_sweep() -> int:
    """Mark failed every running job whose worker has not been heard of for JOB_STALE_SECONDS
    (it was killed, or its machine stopped), deleting what it saved part way."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.JOB_STALE_SECONDS)
    stale = list(
        Job.objects.filter(state=Job.State.RUNNING, heartbeat__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    failed = 0
    for job_id in stale:
        failed += Job.objects.filter(
            pk=job_id, state=Job.State.RUNNING, heartbeat__lt=cutoff
        ).update(
            state=Job.State.FAILED,
            finished=timezone.now(),
            message="Failed",
            error="The worker running this job stopped (it was killed or its machine went "
            "down). Nothing it made was kept; submit the job again.",
        )
        job_discard_pending(job_id)
        _announce(job_id)
    return failed


def job_submit(job: Job) -> None:
    """Queue ``job`` (saved, state queued) once the transaction that created it commits."""
    transaction.on_commit(lambda: _dispatch(job.pk))
    _send(job.owner_id, job_event(job))


def jobs_resume_queued() -> int:
    """Without a broker, queued jobs live in the memory of the server that took them: when a
    server starts, it queues again those that a previous server left (several servers may
    all do so: a job runs once, since only one can move it from queued to running)."""
    if settings.CELERY_BROKER_URL:
        return 0
    waiting = list(
        Job.objects.filter(state=Job.State.QUEUED).order_by("created").values_list("pk", flat=True)
    )
    for job_id in waiting:
        _thread_runner().submit(job_id)
    return len(waiting)


def _dispatch(job_id: int) -> None:
    if not settings.CELERY_BROKER_URL:
        _thread_runner().submit(job_id)
        return
    from archive.tasks import job_run_task

    try:
        job_run_task.delay(job_id)
    except Exception as exc:
        # The broker is down: the job would wait for ever. It fails now, and the client
        # hears so (503) instead of watching a job that never starts.
        logger.exception("Could not queue job %s", job_id)
        Job.objects.filter(pk=job_id, state=Job.State.QUEUED).update(
            state=Job.State.FAILED,
            finished=timezone.now(),
            message="Failed",
            error="The job queue cannot be reached; try again in a minute.",
        )
        raise QueueDown() from exc


class QueueDown(RuntimeError):
    code = "busy"
    http_status = 503
    retry_after = 60

    def __init__(self) -> None:
        super().__init__("The job queue cannot be reached; try again in a minute.")


class _ThreadRunner:
    """The embedded runner: one daemon thread of the server process runs queued jobs in turn."""

    def __init__(self) -> None:
        self._queue: queue.Queue[int] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="jobs", daemon=True)
        self._thread.start()

    def submit(self, job_id: int) -> None:
        self._queue.put(job_id)

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            close_old_connections()
            try:
                job_run(job_id)
            except Exception:
                logger.exception("Job %s could not be run", job_id)
            finally:
                close_old_connections()


_runner: _ThreadRunner | None = None
_runner_lock = threading.Lock()


def _thread_runner() -> _ThreadRunner:
    global _runner  # noqa: PLW0603 - one runner thread per process, started on first use.
    with _runner_lock:
        if _runner is None:
            _runner = _ThreadRunner()
        return _runner
