"""The suite must really run on the database the test command says it started."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from accounts.models import User


@pytest.mark.django_db
def test_the_suite_runs_on_the_expected_database_vendor() -> None:
    expected = os.environ.get("FERSITE_EXPECT_DB_VENDOR")
    if expected is None:
        pytest.skip("FERSITE_EXPECT_DB_VENDOR is not set: run the suite through scripts/test.sh")
    assert connection.vendor == expected


@pytest.mark.django_db
def test_names_keep_any_unicode_including_emoji() -> None:
    # MySQL's legacy utf8 charset cannot store 4-byte characters; utf8mb4 can.
    User.objects.create_user("emoji@example.org", "pw-1234567", username="smile😀名前")
    assert User.objects.get(email="emoji@example.org").username == "smile😀名前"
