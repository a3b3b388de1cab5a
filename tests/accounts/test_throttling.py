"""Per-user limits on the expensive endpoints: 429 with Retry-After, counted per user, and the
allowance left shown by the usage API."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import LazySettings
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import User
from analysis.ml import loaders
from analysis.ml.types import Box
from tests.analysis.fakes import FakeDetector, fake_scorer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings: LazySettings, monkeypatch: pytest.MonkeyPatch) -> None:
    cache.clear()
    settings.API_THROTTLE_RATES = {"analyze": "2/min", "detect": None, "export": "1/min"}
    monkeypatch.setattr(
        loaders, "detector", lambda name, threads=2: FakeDetector([Box(20, 50, 100, 100)])
    )
    monkeypatch.setattr(loaders, "emotion_classifier", lambda **_: fake_scorer())


def _client(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _analyze(client: APIClient, testdata: Path) -> object:
    with (testdata / "scenes" / "astronaut.png").open("rb") as image:
        return client.post("/api/v1/analyze", {"image": image}, format="multipart")


def test_a_user_over_the_rate_gets_429_with_retry_after(
    alice: User, bob: User, testdata: Path
) -> None:
    client = _client(alice)
    assert client.get("/api/v1/usage").json()["throttle"]["analyze"] == {
        "rate": "2/min",
        "remaining": 2,
    }
    assert _analyze(client, testdata).status_code == 200  # type: ignore[attr-defined]
    assert _analyze(client, testdata).status_code == 200  # type: ignore[attr-defined]
    refused = _analyze(client, testdata)
    assert refused.status_code == 429  # type: ignore[attr-defined]
    assert refused.json()["error"]["code"] == "throttled"  # type: ignore[attr-defined]
    assert int(refused["Retry-After"]) > 0  # type: ignore[index]
    assert client.get("/api/v1/usage").json()["throttle"]["analyze"]["remaining"] == 0
    # Another user has an allowance of their own; an unlimited scope is not limited.
    assert _analyze(_client(bob), testdata).status_code == 200  # type: ignore[attr-defined]
    for _ in range(5):
        with (testdata / "scenes" / "astronaut.png").open("rb") as image:
            assert client.post("/api/v1/detect", {"image": image}).status_code == 200
    assert client.get("/api/v1/analyses/export/csv").status_code == 200
    assert client.get("/api/v1/analyses/export/csv").status_code == 429
