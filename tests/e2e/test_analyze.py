from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.ml, pytest.mark.django_db(transaction=True)]


def test_upload_select_faces_analyse_and_download_the_json(
    signed_in_page: Any, live_server: Any, testdata: Path, tmp_path: Path
) -> None:
    page = signed_in_page
    page.goto(live_server.url + "/analyze/")
    page.set_input_files("#image-input", str(testdata / "scenes" / "couple.jpg"))

    # Both faces appear boxed, numbered and selected.
    boxes = page.locator(".face-box")
    boxes.first.wait_for(timeout=60_000)
    assert boxes.count() == 2
    assert page.locator(".face-box.is-selected").count() == 2
    assert page.locator("#faces-summary").inner_text().startswith("2 faces found")

    # Leave the second face out, use 4 passes, analyse.
    page.locator(".face-box[data-index='1']").click()
    assert page.locator(".face-box.is-selected").count() == 1
    page.locator("#tta").fill("4")
    page.get_by_role("button", name="Analyze selected faces").click()

    result = page.locator(".face-result")
    result.first.wait_for(timeout=60_000)
    assert result.count() == 1
    assert result.first.locator("h3").inner_text() == "Face 1"
    assert result.first.locator(".bar-row").count() == 7
    assert page.locator("#annotated").get_attribute("src").startswith("data:image/jpeg")
    (REPO_ROOT / "docs" / "screenshots").mkdir(parents=True, exist_ok=True)
    # From the top, so that the sticky header is drawn where it belongs in a full-page shot.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(REPO_ROOT / "docs" / "screenshots" / "analyze.png"), full_page=True)

    with page.expect_download() as download_info:
        page.locator("#download-json").click()
    saved = tmp_path / "result.json"
    download_info.value.save_as(saved)
    body = json.loads(saved.read_text())
    assert body["passes"] == 4
    assert [face["index"] for face in body["faces"]] == [0]
    assert sum(body["faces"][0]["emotions"].values()) == pytest.approx(1, abs=0.01)

    # Re-run with other options without choosing the file again.
    page.locator("#tta").fill("2")
    page.locator(".face-box[data-index='1']").click()
    page.get_by_role("button", name="Analyze selected faces").click()
    # Locators, not wait_for_function: the page's Content-Security-Policy forbids the eval
    # that a string predicate needs.
    page.locator(".face-result").nth(1).wait_for(timeout=60_000)
    assert page.locator(".face-result").count() == 2


def test_a_bad_file_shows_the_error_and_the_page_stays_usable(
    signed_in_page: Any, live_server: Any, testdata: Path
) -> None:
    page = signed_in_page
    page.goto(live_server.url + "/analyze/")
    page.set_input_files("#image-input", str(testdata / "bad" / "truncated.jpg"))
    error = page.locator("#error")
    error.wait_for(state="visible", timeout=30_000)
    assert "damaged or truncated" in error.inner_text()
    page.set_input_files("#image-input", str(testdata / "scenes" / "astronaut.png"))
    page.locator(".face-box").first.wait_for(timeout=60_000)
    assert not error.is_visible()


def test_the_analysis_page_needs_a_login(page: Any, live_server: Any) -> None:
    page.goto(live_server.url + "/analyze/")
    assert "/accounts/login/" in page.url


def test_mark_a_missed_face_see_it_linked_and_save_what_is_shown(
    signed_in_page: Any, live_server: Any, testdata: Path, alice: Any
) -> None:
    from archive.models import SavedAnalysis

    page = signed_in_page
    page.goto(live_server.url + "/analyze/")
    page.set_input_files("#image-input", str(testdata / "scenes" / "couple.jpg"))
    page.locator(".face-box").first.wait_for(timeout=60_000)
    # Keep only face 1, and draw a box around a region by hand (the photo's top-right corner).
    page.locator(".face-box[data-index='1']").click()
    stage = page.locator("#preview").bounding_box()
    page.mouse.move(stage["x"] + stage["width"] * 0.80, stage["y"] + stage["height"] * 0.05)
    page.mouse.down()
    page.mouse.move(
        stage["x"] + stage["width"] * 0.95, stage["y"] + stage["height"] * 0.30, steps=5
    )
    page.mouse.up()
    assert page.locator(".face-box.is-manual").count() == 1
    page.get_by_role("button", name="Analyze selected faces").click()
    cards = page.locator(".face-result")
    cards.nth(1).wait_for(timeout=60_000)
    assert cards.count() == 2
    assert "marked by hand" in cards.nth(1).inner_text()
    # Each card shows its face's crop; a card and its box light up together.
    assert page.locator(".face-result canvas.face-crop").count() == 2
    page.locator(".result-box[data-face='0']").hover()
    assert "is-lit" in (cards.nth(0).get_attribute("class") or "")
    cards.nth(1).hover()
    assert "is-lit" in (page.locator(".result-box[data-face='2']").get_attribute("class") or "")
    assert "Authorization: Token $KEY" in page.locator("#curl-command").text_content()

    # Saving stores what is shown (no new analysis) and clears the name against duplicates.
    shown = [card.locator(".bar-value").all_inner_texts() for card in cards.all()]
    page.fill("#save-name", "Marked by hand")
    page.get_by_role("button", name="Save", exact=True).click()
    page.locator("#save-status a").wait_for(timeout=30_000)
    assert page.input_value("#save-name") == ""
    assert page.get_by_role("button", name="Save", exact=True).is_disabled()
    saved = SavedAnalysis.objects.get(owner=alice)
    assert saved.name == "Marked by hand"
    faces = list(saved.faces.order_by("index"))
    assert [face.found_by for face in faces] == ["detected", "manual"]
    assert [f"{face.happy * 100:.1f}%" for face in faces] == [rows[3] for rows in shown]

    # Another detector makes the results stale: they are hidden, not left beside new numbers.
    page.select_option("#detector", "haar")
    page.locator("#results-step").wait_for(state="hidden", timeout=30_000)
    page.locator(".face-box").first.wait_for(timeout=60_000)
    assert page.locator(".face-box.is-manual").count() == 0
