from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"


def test_the_home_page_renders_in_chromium_and_leads_to_analysis(
    page: Any, live_server: Any
) -> None:
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(live_server.url + "/")
    assert page.title().endswith("Emotion Lens")
    assert page.locator("h1").inner_text() == "See the emotions on every face in a photo"
    # The stylesheet really applied: the primary button has the accent colour.
    color = page.locator("a.button").first.evaluate("el => getComputedStyle(el).backgroundColor")
    assert color == "rgb(79, 70, 229)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "home.png"), full_page=True)
    assert failed == []

    # The analysis page asks an anonymous visitor to log in first, then comes back.
    page.get_by_role("link", name="Analyze a photo").click()
    page.wait_for_url(live_server.url + "/accounts/login/?next=/analyze/")


def test_the_navigation_folds_into_a_menu_on_a_phone(page: Any, live_server: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/")
    nav_link = page.locator(".site-nav >> text=Archive")
    assert not nav_link.is_visible()
    page.locator(".nav-toggle").click()
    assert nav_link.is_visible()
