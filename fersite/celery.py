"""The Celery application: `celery -A fersite worker` runs jobs with the web process's code.

Configured from the Django settings named CELERY_*; without CELERY_BROKER_URL the site never
sends it anything (archive.jobs runs jobs in a thread of the server instead).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fersite.settings")

app = Celery("fersite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def worker_command(name: str) -> list[str]:
    """A worker as the Procfile runs it, named ``name``, for the tests and benchmarks that start
    their own (the ``celery`` program of this interpreter's environment; it prints " ready."
    once it takes jobs)."""
    celery = Path(sys.executable).with_name("celery")
    options = ["--pool", "solo", "--loglevel", "INFO", "--without-mingle", "--without-gossip"]
    return [str(celery), "-A", "fersite", "worker", *options, "-n", name]
