"""``manage.py archive_purge [--days N]``: delete analyses older than N days, files included.

Without --days it uses ARCHIVE_RETENTION_DAYS; 0 there means "keep everything". Run it daily
from cron or a systemd timer.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from archive.services import analyses_purge, jobs_purge

MAX_DAYS = 365 * 100


class Command(BaseCommand):
    help = "Delete saved analyses older than N days (default: ARCHIVE_RETENTION_DAYS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.ARCHIVE_RETENTION_DAYS
        if not 0 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be between 0 and {MAX_DAYS}")
        if days == 0:
            self.stdout.write("Retention is off (ARCHIVE_RETENTION_DAYS=0): nothing deleted.")
            return
        deleted = analyses_purge(older_than_days=days)
        jobs = jobs_purge(older_than_days=days)
        self.stdout.write(f"Deleted {deleted} analyses and {jobs} jobs older than {days} days.")
