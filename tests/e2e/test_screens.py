"""The walk-through's pages at desktop and phone size: screenshots for README, and a check that
no page scrolls sideways on a phone (the layout's most common break)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archive.models import SavedAnalysis
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
SIGNED_IN = {
    "analyze": "/analyze/",
    "archive": "/archive/",
    "detail": None,  # a saved analysis, filled in below
    "stats": "/archive/stats/",
    "usage": "/archive/usage/",
    "profile": "/accounts/profile/",
    "tokens": "/accounts/tokens/",
}
ANONYMOUS = {"home": "/", "login": "/accounts/login/", "signup": "/accounts/signup/"}


@pytest.mark.parametrize("size", list(SIZES))
def test_each_page_fits_the_screen_and_is_pictured(
    browser: Any,
    live_server: Any,
    alice: Any,
    save_for: Callable[..., SavedAnalysis],
    size: str,
) -> None:
    width, height = SIZES[size]
    saved = save_for(alice, "Screenshot")
    folder = REPO_ROOT / "docs" / "screenshots" / size
    folder.mkdir(parents=True, exist_ok=True)
    for signed_in, pages in ((False, ANONYMOUS), (True, SIGNED_IN)):
        context = browser.new_context(viewport={"width": width, "height": height})
        if signed_in:
            sign_in(context, live_server.url, alice)
        page = context.new_page()
        for name, path in pages.items():
            page.goto(live_server.url + (path or f"/archive/{saved.pk}/"))
            page.wait_for_load_state("networkidle")
            assert page.locator("h1").count() >= 1, name
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 1, f"{name} scrolls sideways by {overflow}px at {size} size"
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        context.close()
