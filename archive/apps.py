import contextlib

from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "archive"

    def asgi_started(self) -> None:
        """The server starts: jobs left queued by a server without a broker are run."""
        from django.db import DatabaseError

        from archive import jobs

        # Not migrated yet (a first start): there is nothing to resume.
        with contextlib.suppress(DatabaseError):
            jobs.jobs_resume_queued()
