"""People in the browser: consent, enrol from two photos, a name on the right face of a group
photo, and the person's page with their emotions over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.ml, pytest.mark.django_db(transaction=True)]


def test_enrol_a_person_then_see_their_name_and_their_page(
    signed_in_page: Any, live_server: Any, testdata: Path
) -> None:
    page = signed_in_page
    train, test = testdata / "enrol" / "train", testdata / "enrol" / "test"

    # Off at first: the People page says so. Turn it on in the profile.
    page.goto(live_server.url + "/archive/people/")
    assert page.locator("#identity-off").is_visible()
    page.goto(live_server.url + "/accounts/profile/#identity")
    page.locator("#id_identity_enabled").check()
    page.locator("#identity").get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert page.locator("#id_identity_enabled").is_checked()

    # Enrol Barack Obama from two photos.
    page.goto(live_server.url + "/archive/people/")
    assert page.locator("#identity-off").count() == 0
    page.locator("#id_person_name").fill("Barack Obama")
    page.get_by_role("button", name="Add").click()
    page.locator("#person-name").wait_for()
    assert page.locator("#person-name").inner_text() == "Barack Obama"
    for photo in ("obama.jpg", "obama2.jpg"):
        page.set_input_files("#id_person_photo", str(train / "obama" / photo))
        page.get_by_role("button", name="Enrol this face").click()
        page.wait_for_load_state()
        assert "The face was enrolled" in page.content()
    assert page.locator("#enrolled li").count() == 2
    person_url = page.url

    # Analyse a photo of him beside Joe Biden (never enrolled) and a girl: his name is on
    # his face, the second from the left, and on no other.
    page.goto(live_server.url + "/analyze/")
    page.set_input_files("#image-input", str(test / "obama_and_biden.jpg"))
    page.locator(".face-box").first.wait_for(timeout=60_000)
    page.locator("#tta").fill("1")
    page.get_by_role("button", name="Analyze selected faces").click()
    results = page.locator(".face-result")
    results.first.wait_for(timeout=60_000)
    names = [results.nth(i).locator("h3").inner_text() for i in range(results.count())]
    assert names[1] == "Face 2 · Barack Obama"
    assert [name for name in names if "Barack Obama" in name] == [names[1]]
    assert names[0] == "Face 1 · not recognised"

    # Saved, the analysis is one of his appearances: his page sums it up and charts it.
    page.locator("#save-name").fill("Election night")
    page.locator("#save-button").click()
    page.locator("#save-status").get_by_text("in your archive").wait_for(timeout=30_000)
    page.goto(person_url)
    summary = page.locator("#appearance-summary").inner_text()
    assert summary.startswith("Barack Obama: mostly ")
    assert "1 appearance" in summary
    assert page.locator("#appearances .timeline-col").count() == 1
    assert page.locator("#appearances .stat-bars .bar-row").count() >= 1
    assert page.locator("#appearances table").get_by_text("Election night").count() == 1
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(REPO_ROOT / "docs" / "screenshots" / "person.png"), full_page=True)
