"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import LazySettings
from django.test import Client

from accounts.models import User
from tests.factories import UserFactory

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA = REPO_ROOT.parent / "shared" / "testdata"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: LazySettings, tmp_path: Path) -> None:
    """Every test writes its uploads into its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "base_url": None},
        },
    }


@pytest.fixture
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.fail(f"The shared test data is missing: expected it at {TESTDATA}")
    return TESTDATA


def login_verified(client: Client, user: User) -> None:
    """Log ``user`` in on ``client`` with a session that has passed the second factor."""
    from django_otp import DEVICE_ID_SESSION_KEY

    from accounts.services import email_device_for

    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = email_device_for(user).persistent_id
    session.save()


@pytest.fixture
def alice(db: None):  # type: ignore[no-untyped-def]
    return UserFactory(email="alice@example.org", username="alice")


@pytest.fixture
def bob(db: None):  # type: ignore[no-untyped-def]
    return UserFactory(email="bob@example.org", username="bob")
