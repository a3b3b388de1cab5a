"""Usage: analyses and faces per day and source, through the API and the page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_token_create
from analysis.ml import loaders
from analysis.ml.types import Box
from archive.models import SavedAnalysis, UsageDay
from archive.services import usage_record
from tests.analysis.fakes import FakeDetector, fake_scorer
from tests.conftest import login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    detector = FakeDetector([Box(20, 50, 100, 100), Box(300, 40, 120, 120)])
    monkeypatch.setattr(loaders, "detector", lambda name, threads=2: detector)
    monkeypatch.setattr(loaders, "emotion_classifier", lambda **_: fake_scorer())


def _analyze(client: APIClient, testdata: Path, **fields: str) -> dict[str, object]:
    with (testdata / "scenes" / "astronaut.png").open("rb") as image:
        response = client.post("/api/v1/analyze", {"image": image, **fields}, format="multipart")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_analyses_count_by_source_saved_or_not(
    alice: User, bob: User, testdata: Path, fake_models: None
) -> None:
    page = APIClient()
    login_verified(page, alice)  # the analysis page: a browser session
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=alice, name='u').key}")
    _analyze(page, testdata)
    _analyze(page, testdata, save="true")
    saved = _analyze(token, testdata, save="true")
    usage_record(owner=bob, source=SavedAnalysis.Source.UPLOAD, faces=9)  # not alice's

    body = page.get("/api/v1/usage").json()
    assert body["analyses"] == 3
    assert body["faces"] == 6
    today = body["days"][-1]
    assert today["day"] == timezone.localdate().isoformat()
    assert today["by_source"]["upload"] == {"analyses": 2, "faces": 4}
    assert today["by_source"]["api"] == {"analyses": 1, "faces": 2}
    assert today["by_source"]["camera"] == {"analyses": 0, "faces": 0}
    assert len(body["days"]) == 30
    assert body["saved_analyses"] == 2
    stored = SavedAnalysis.objects.filter(owner=alice)
    assert body["bytes_stored"] == sum(a.bytes_stored for a in stored) > 0
    assert SavedAnalysis.objects.get(pk=saved["analysis_id"]).source == "api"


def test_a_range_is_checked(alice: User) -> None:
    client = APIClient()
    client.force_authenticate(alice)
    reversed_range = client.get("/api/v1/usage?date_from=2026-02-01&date_to=2026-01-01")
    assert reversed_range.status_code == 400
    assert reversed_range.json()["error"]["code"] == "validation_error"
    too_long = client.get("/api/v1/usage?date_from=2020-01-01&date_to=2026-01-01")
    assert too_long.status_code == 400
    week = client.get("/api/v1/usage?date_from=2026-01-01&date_to=2026-01-07").json()
    assert [day["day"] for day in week["days"]][::6] == ["2026-01-01", "2026-01-07"]


def test_parallel_counts_add_up_in_one_row(alice: User) -> None:
    for _ in range(3):
        usage_record(owner=alice, source="camera", analyses=10, faces=7)
    row = UsageDay.objects.get(owner=alice)
    assert (row.analyses, row.faces) == (30, 21)


def test_the_usage_page_shows_the_totals_and_an_axis(
    alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    client = Client()
    login_verified(client, alice)
    usage_record(owner=alice, source="camera", analyses=12, faces=12)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    UsageDay.objects.create(owner=alice, day=yesterday, source="upload", analyses=4, faces=5)
    html = client.get("/archive/usage/").content.decode()
    assert 'data-total="analyses">16<' in html
    assert 'data-total="faces">17<' in html
    assert '<div class="timeline-axis" aria-hidden="true"><span>12</span><span>6</span>' in html
    error = client.get("/archive/usage/?date_from=2026-02-01&date_to=2026-01-01")
    assert "must not be after" in error.content.decode()


def test_a_row_created_by_a_parallel_request_is_added_to(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db.models import QuerySet

    # As if another request created today's row between this one's update and its insert.
    real_update = QuerySet.update
    calls = {"n": 0}

    def update_racing(self: QuerySet[UsageDay], **kwargs: object) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            UsageDay.objects.create(
                owner=alice, day=timezone.localdate(), source="camera", analyses=5, faces=5
            )
            return 0
        return real_update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", update_racing)
    usage_record(owner=alice, source="camera", analyses=2, faces=3)
    row = UsageDay.objects.get(owner=alice)
    assert (row.analyses, row.faces) == (7, 8)


def test_extreme_dates_are_refused_not_a_server_error(alice: User) -> None:
    client = APIClient()
    client.force_authenticate(alice)
    for query in ("date_to=0001-01-05", "date_from=9999-12-31&date_to=9999-12-31"):
        response = client.get(f"/api/v1/usage?{query}")
        assert response.status_code == 400, query
    page = Client()
    login_verified(page, alice)
    assert page.get("/archive/usage/?date_to=0001-01-05").status_code == 200
