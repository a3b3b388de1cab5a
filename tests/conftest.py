"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import LazySettings

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


@pytest.fixture
def alice(db: None):  # type: ignore[no-untyped-def]
    return UserFactory(email="alice@example.org", username="alice")


@pytest.fixture
def bob(db: None):  # type: ignore[no-untyped-def]
    return UserFactory(email="bob@example.org", username="bob")
