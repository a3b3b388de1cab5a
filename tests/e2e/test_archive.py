from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archive.models import SavedAnalysis
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.ml, pytest.mark.django_db(transaction=True)]


def test_save_find_rename_export_and_delete(
    signed_in_page: Any,
    live_server: Any,
    testdata: Path,
    *,
    tmp_path: Path,
    alice: Any,
    save_for: Callable[..., SavedAnalysis],
) -> None:
    page = signed_in_page
    # Another analysis in the archive, so that the search has something to leave out.
    other = save_for(alice, "Office party")
    base = live_server.url
    page.goto(base + "/analyze/")
    page.set_input_files("#image-input", str(testdata / "scenes" / "couple.jpg"))
    page.locator(".face-box").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Analyze selected faces").click()
    page.locator(".face-result").first.wait_for(timeout=60_000)

    page.fill("#save-name", "Red carpet 🎬")
    page.get_by_role("button", name="Save", exact=True).click()
    saved_link = page.locator("#save-status a")
    saved_link.wait_for(timeout=60_000)
    assert SavedAnalysis.objects.exclude(pk=other.pk).get().name == "Red carpet 🎬"

    # Find it by searching the archive: only the match is listed once the filtered page is in.
    page.goto(base + "/archive/")
    assert page.locator(".archive-item").count() == 2
    page.fill("#id_q", "carpet")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/archive/?*q=carpet*")
    item = page.locator(".archive-item")
    assert item.count() == 1
    assert item.locator(".item-name").inner_text().strip() == "Red carpet 🎬"
    page.screenshot(path=str(REPO_ROOT / "docs" / "screenshots" / "archive.png"), full_page=True)
    item.locator(".item-name").click()

    # Rename it in place.
    page.fill("#id_name", "Premiere, both faces")
    page.get_by_role("button", name="Rename").click()
    page.locator(".message-success").wait_for()
    assert page.input_value("#id_name") == "Premiere, both faces"
    assert page.locator(".face-result").count() == 2

    # Export the archive as CSV.
    page.goto(base + "/archive/")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").click()
    target = tmp_path / "archive.csv"
    download_info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert (
        sorted(row["name"] for row in rows) == ["Office party"] * 2 + ["Premiere, both faces"] * 2
    )

    # Delete it, confirming first.
    page.locator(f".archive-item input[name=ids][value='{other.pk}']").check()
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    page.locator(".message-success").wait_for()
    assert page.locator(".archive-item").count() == 1
    page.locator(".archive-item input[name=ids]").check()
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    page.locator(".message-success").wait_for()
    assert page.locator(".archive-item").count() == 0
    assert not SavedAnalysis.objects.exists()
