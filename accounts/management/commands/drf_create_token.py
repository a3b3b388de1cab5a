"""``manage.py drf_create_token <email or username>``: create an API token for a user.

This project's tokens are named and stored hashed (accounts.ApiToken), so this command
replaces Django REST framework's own, which writes to a table the API does not read.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from accounts.models import User
from accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user (given by email or username) and print its key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the user's email address or username")
        parser.add_argument("--name", default="Command line", help="a name for the token")

    def handle(self, *args: Any, **options: Any) -> None:
        who = options["username"]
        user = User.objects.filter(Q(email__iexact=who) | Q(username=who)).first()
        if user is None:
            raise CommandError(f"No user with the email address or username {who!r}")
        new = api_token_create(user=user, name=options["name"])
        self.stdout.write(f"Generated token {new.key} for user {user.username}")
