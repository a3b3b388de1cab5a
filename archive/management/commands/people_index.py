"""manage.py people_index: sign saved faces that have no signature yet (see archive.people)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User
from archive.people import archive_index


class Command(BaseCommand):
    help = (
        "Compute the signatures of saved faces that have none (faces saved before identity "
        "features were turned on), for every user who has them on, or for one user."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", help="only this user's archive")

    def handle(self, *args: Any, **options: Any) -> None:
        users = User.objects.filter(identity_enabled=True)
        if options["email"]:
            users = users.filter(email__iexact=options["email"])
        total = 0
        for user in users.iterator():
            signed = archive_index(owner=user, say=self.stdout.write)
            self.stdout.write(f"{user.email}: {signed} face(s) signed")
            total += signed
        self.stdout.write(self.style.SUCCESS(f"{total} face(s) signed in all"))
