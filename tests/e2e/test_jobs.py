"""A video job in the browser: upload the real clip, watch the progress, see the charts, and
download the CSV; with a real Celery worker behind the page."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from analysis.ml.types import EMOTIONS
from tests.conftest import CeleryWorker
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.ml, pytest.mark.django_db(transaction=True)]


def test_upload_a_video_watch_it_progress_and_download_its_csv(
    page: Any, asgi_live_server: str, alice: User, job_media: CeleryWorker, testdata: Path
) -> None:
    sign_in(page.context, asgi_live_server, alice)
    page.goto(asgi_live_server + "/archive/jobs/")
    page.set_input_files("#job-file", str(testdata / "video" / "short_hamilton_clip.mp4"))
    page.get_by_role("button", name="Start").click()
    page.wait_for_url("**/archive/jobs/*/", timeout=30_000)

    # The progress bar moves while the job runs (events from the worker over the websocket).
    progress = page.locator("#job-progress")
    seen = set()
    state = page.locator("#job-state")
    for _ in range(600):
        seen.add(int(progress.get_attribute("value") or 0))
        if state.inner_text() in ("Done", "Failed", "Cancelled"):
            break
        page.wait_for_timeout(100)
    assert state.inner_text() == "Done", page.locator("#job-failure").inner_text()
    assert any(0 < value < 100 for value in seen), seen

    # Each tracked face has its timeline chart with a line per emotion.
    chart = page.locator(".track-chart").first
    chart.wait_for(timeout=30_000)
    assert page.locator(".track-chart").count() >= 4
    for name in EMOTIONS:
        assert chart.locator(f'[data-emotion="{name}"]').count() == 1
    assert page.locator("#job-video").get_attribute("src").endswith("/files/video")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0] == ["t", "track", "x", "y", "w", "h", *EMOTIONS, "dominant_emotion"]
    assert len(rows) > 40
