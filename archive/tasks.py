"""Celery tasks (run by `celery -A fersite worker`, scheduled by `celery -A fersite beat`)."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from archive import jobs
from archive.services import analyses_purge, jobs_purge


@shared_task(name="archive.tasks.job_run", ignore_result=True)
def job_run_task(job_id: int) -> None:
    jobs.job_run(job_id)


@shared_task(name="archive.tasks.jobs_sweep", ignore_result=True)
def jobs_sweep() -> int:
    return jobs.jobs_sweep()


@shared_task(name="archive.tasks.archive_purge", ignore_result=True)
def archive_purge() -> int:
    """The retention purge (ARCHIVE_RETENTION_DAYS; 0 keeps everything), daily from beat:
    saved analyses and finished jobs with their files."""
    days = settings.ARCHIVE_RETENTION_DAYS
    if not days:
        return 0
    return analyses_purge(older_than_days=days) + jobs_purge(older_than_days=days)


@worker_ready.connect
def _sweep_on_start(**_: object) -> None:
    # Jobs a worker was running when it died are found as soon as a worker starts again.
    jobs.jobs_sweep()
