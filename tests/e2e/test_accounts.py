from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from PIL import Image

from tests.accounts.helpers import reset_link, sign_in_code, signup_code
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "dana@example.org"
PASSWORD = "first-Passw0rd!"
NEW_PASSWORD = "second-Passw0rd!"


def _log_in(page: Any, base: str, password: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", EMAIL)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/accounts/2fa/**")
    page.fill("input[name=code]", sign_in_code(EMAIL))
    page.get_by_role("button", name="Verify").click()
    page.locator(".nav-account").wait_for()


def test_sign_up_verify_log_in_with_code_avatar_and_password_reset(
    page: Any, live_server: Any, tmp_path: Path
) -> None:
    cache.clear()
    base = live_server.url
    page.goto(base + "/accounts/signup/")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=username]", "dana")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")
    page.fill("input[name=code]", signup_code(EMAIL))
    page.get_by_role("button", name="Confirm").click()
    assert page.locator(".nav-account").inner_text().strip() == "dana"

    page.get_by_role("button", name="Log out").click()
    page.locator("a", has_text="Log in").first.wait_for()
    cache.clear()
    _log_in(page, base, PASSWORD)

    # A new avatar appears in the navigation.
    picture = tmp_path / "me.png"
    Image.new("RGB", (300, 200), (30, 160, 90)).save(picture)
    page.goto(base + "/accounts/profile/")
    page.set_input_files("#id_avatar", str(picture))
    page.get_by_role("button", name="Upload picture").click()
    avatar = page.locator(".nav-account img.avatar")
    avatar.wait_for()
    pixels = Image.open(io.BytesIO(page.request.get(base + avatar.get_attribute("src")).body()))
    assert pixels.size == (256, 256)
    assert pixels.convert("RGB").getpixel((128, 128)) == (30, 160, 90)
    page.screenshot(path=str(REPO_ROOT / "docs" / "screenshots" / "profile.png"), full_page=True)

    # Forgotten password: the emailed link sets a new one, which then logs in.
    page.get_by_role("button", name="Log out").click()
    page.goto(base + "/accounts/password/reset/")
    page.fill("input[name=email]", EMAIL)
    page.get_by_role("button", name="Reset My Password").click()
    page.wait_for_url("**/password/reset/done/")
    page.goto(base + reset_link(EMAIL))
    page.fill("input[name=password1]", NEW_PASSWORD)
    page.fill("input[name=password2]", NEW_PASSWORD)
    page.get_by_role("button", name="Change Password").click()
    page.wait_for_url("**/password/reset/key/done/")
    cache.clear()
    _log_in(page, base, NEW_PASSWORD)
    assert page.locator(".nav-account").inner_text().strip() == "dana"
