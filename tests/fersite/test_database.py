"""The suite must really run on the database the test command says it started."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from accounts.models import User


def _server_kind() -> str:
    if connection.vendor == "mysql":
        return "mariadb" if connection.mysql_is_mariadb else "mysql"
    return connection.vendor


@pytest.mark.django_db
def test_the_suite_runs_on_the_database_the_test_command_started() -> None:
    # Not a skip: a suite run by plain `pytest` on SQLite must not look like a green run on
    # MariaDB.
    expected = os.environ.get("FERSITE_EXPECT_DB_VENDOR")
    assert expected, (
        "FERSITE_EXPECT_DB_VENDOR is not set, so this run is on "
        f"{_server_kind()}: run the suite through scripts/test.sh (make test)"
    )
    assert _server_kind() == expected


@pytest.mark.django_db
def test_names_keep_any_unicode_including_emoji() -> None:
    # MySQL's legacy utf8 charset cannot store 4-byte characters; utf8mb4 can.
    User.objects.create_user("emoji@example.org", "pw-1234567", username="smile😀名前")
    assert User.objects.get(email="emoji@example.org").username == "smile😀名前"
