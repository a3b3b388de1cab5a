"""The Celery application: `celery -A fersite worker` runs jobs with the web process's code.

Configured from the Django settings named CELERY_*; without CELERY_BROKER_URL the site never
sends it anything (archive.jobs runs jobs in a thread of the server instead).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fersite.settings")

app = Celery("fersite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
