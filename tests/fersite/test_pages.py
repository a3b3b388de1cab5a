from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import User
from tests.conftest import login_verified


@pytest.mark.django_db
def test_the_home_page_explains_the_app_and_leads_to_the_upload_page(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "seven emotions" in html
    assert 'href="/analyze/"' in html
    for label in ("Analyze", "Camera", "Archive", "Log in"):
        assert f">{label}<" in html
    assert "0.1.0" in html


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/analyze/", "/camera/", "/accounts/login/", "/api/docs/"])
def test_pages_load_no_asset_from_another_host(client: Client, alice: User, path: str) -> None:
    if path != "/accounts/login/":
        login_verified(client, alice)
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, "the page should reference its own assets"
    external = [url for url in sources if re.match(r"^(https?:)?//", url)]
    assert external == []


@pytest.mark.django_db
def test_static_assets_are_served_by_the_app(client: Client) -> None:
    response = client.get("/static/site/site.css")
    assert response.status_code == 200
    assert b"--accent" in b"".join(response.streaming_content)  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_the_archive_requires_login(client: Client) -> None:
    response = client.get("/archive/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_staff_see_the_admin_link_and_others_do_not(client: Client, alice: User) -> None:
    login_verified(client, alice)
    assert 'href="/admin/"' not in client.get("/").content.decode()
    alice.is_staff = True
    alice.save()
    assert 'href="/admin/"' in client.get("/").content.decode()


@pytest.mark.django_db
def test_api_docs_are_served_without_a_cdn_to_signed_in_users(client: Client, alice: User) -> None:
    assert client.get("/api/docs/").status_code in (401, 403)
    login_verified(client, alice)
    html = client.get("/api/docs/").content.decode()
    assert "swagger" in html.lower()
    assert "cdn" not in html.lower()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/analyze/", "/camera/", "/archive/", "/accounts/login/", "/api/docs/"]
)
def test_pages_carry_a_strict_content_security_policy_and_no_inline_script(
    client: Client, alice: User, path: str
) -> None:
    if path != "/accounts/login/":
        login_verified(client, alice)
    response = client.get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'self'" in policy
    if path != "/api/docs/":  # Swagger UI's template carries an inline <style>
        assert "unsafe-inline" not in policy.split("style-src-attr")[0]
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    # Inline script would be blocked by that policy: every script must come from a file.
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", response.content.decode())
    assert inline == []


@pytest.mark.django_db
def test_an_unknown_page_gets_the_sites_404_and_the_api_its_json(client: Client) -> None:
    # In debug mode too: Django's debug 404 lists every URL pattern of the site.
    from django.test import override_settings

    with override_settings(DEBUG=True):
        page = client.get("/no-such-page/")
        api = client.get("/api/v1/no-such-endpoint")
    assert page.status_code == 404
    html = page.content.decode()
    assert "Page not found" in html
    assert "URLconf" not in html
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_the_404_page_keeps_the_cookies_and_headers_set_for_it(client: Client, alice: User) -> None:
    from django.contrib.messages import constants
    from django.contrib.messages.storage.cookie import CookieStorage

    login_verified(client, alice)
    # A message waiting to be shown: the 404 page shows it, and must clear it (a cookie).
    response = client.get("/archive/")
    storage = CookieStorage(response.wsgi_request)
    storage.add(constants.SUCCESS, "Renamed.")
    storage.update(response)
    client.cookies.update(response.cookies)
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert "Renamed." in missing.content.decode()
    assert missing["X-Frame-Options"] == "DENY"
    assert "Cookie" in missing["Vary"]
    assert "Renamed." not in client.get("/").content.decode()
