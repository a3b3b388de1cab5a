"""Profile, avatar, authenticator app, API tokens, admin access and deleting the account."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from archive.models import SavedAnalysis
from tests.conftest import login_verified
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    cache.clear()


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    login_verified(client, alice)
    return client


def _jpeg(size: tuple[int, int]) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, format="JPEG")
    buffer.seek(0)
    buffer.name = "me.jpg"
    return buffer


def test_the_username_can_change_but_stays_unique(
    alice_client: Client, alice: User, bob: User
) -> None:
    response = alice_client.post("/accounts/profile/", {"username": "Bob"})
    assert "This username is taken." in response.content.decode()
    alice_client.post("/accounts/profile/", {"username": "alice_w"})
    alice.refresh_from_db()
    assert alice.username == "alice_w"


def test_identity_features_are_off_until_turned_on_in_the_profile(
    alice_client: Client, alice: User
) -> None:
    page = alice_client.get("/accounts/profile/").content.decode()
    assert "Recognising people" in page
    assert 'id="id_identity_enabled">' in page  # not checked
    response = alice_client.post("/accounts/profile/identity/", {"enabled": "on"}, follow=True)
    assert "Identity features are on." in response.content.decode()
    alice.refresh_from_db()
    assert alice.identity_enabled is True
    assert 'id="id_identity_enabled" checked>' in response.content.decode()
    alice_client.post("/accounts/profile/identity/", {})
    alice.refresh_from_db()
    assert alice.identity_enabled is False
    # Only a POST changes it.
    assert alice_client.get("/accounts/profile/identity/").status_code == 405


def test_an_avatar_becomes_a_square_thumbnail_shown_in_the_navigation(
    alice_client: Client, alice: User
) -> None:
    alice_client.post("/accounts/avatar/upload/", {"avatar": _jpeg((640, 400))})
    alice.refresh_from_db()
    assert alice.avatar
    with alice.avatar.open("rb") as handle:
        thumbnail = Image.open(handle)
        assert thumbnail.format == "PNG"
        assert thumbnail.size == (256, 256)
    assert 'src="/accounts/avatar/?v=' in alice_client.get("/").content.decode()
    served = alice_client.get("/accounts/avatar/")
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"


def test_a_bad_avatar_is_refused_and_the_old_one_kept(
    alice_client: Client, alice: User, testdata: Path
) -> None:
    alice_client.post("/accounts/avatar/upload/", {"avatar": _jpeg((100, 100))})
    alice.refresh_from_db()
    before = alice.avatar.name
    with (testdata / "bad" / "truncated.jpg").open("rb") as handle:
        response = alice_client.post("/accounts/avatar/upload/", {"avatar": handle}, follow=True)
    assert "That picture cannot be used" in response.content.decode()
    alice.refresh_from_db()
    assert alice.avatar.name == before
    assert alice.avatar.storage.exists(before)


def test_the_avatar_is_served_only_to_its_owner(alice_client: Client, bob: User) -> None:
    alice_client.post("/accounts/avatar/upload/", {"avatar": _jpeg((64, 64))})
    other = Client()
    login_verified(other, bob)
    assert other.get("/accounts/avatar/").status_code == 404
    assert Client().get("/accounts/avatar/").status_code == 302


def test_api_tokens_are_shown_once_work_and_can_be_revoked(
    alice_client: Client, alice: User
) -> None:
    refused = alice_client.post("/accounts/tokens/", {"name": "lab scripts", "password": "nope"})
    assert refused.context["new_key"] is None
    assert not ApiToken.objects.exists()
    response = alice_client.post(
        "/accounts/tokens/", {"name": "lab scripts", "password": DEFAULT_PASSWORD}
    )
    key = response.context["new_key"]
    token = ApiToken.objects.get(user=alice)
    assert token.name == "lab scripts"
    assert key not in token.key_hash
    assert key not in alice_client.get("/accounts/tokens/").content.decode()

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.post("/api/v1/detect", {}).status_code == 400  # authenticated: a form error

    alice_client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert api.post("/api/v1/detect", {}).status_code in (401, 403)


def test_another_users_token_cannot_be_revoked(alice_client: Client, bob: User) -> None:
    from accounts.services import api_token_create

    token = api_token_create(user=bob, name="bob's").token
    assert alice_client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_the_token_command_prints_a_working_key(alice: User) -> None:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("drf_create_token", "alice@example.org", stdout=out)
    key = out.getvalue().split()[2]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.post("/api/v1/detect", {}).status_code == 400


def test_the_manual_key_is_base32_as_apps_expect(alice_client: Client, alice: User) -> None:
    import base64

    alice_client.post("/accounts/2fa/app/", {"action": "start", "password": DEFAULT_PASSWORD})
    device = TOTPDevice.objects.get(user=alice)
    secret = alice_client.get("/accounts/2fa/app/").context["secret"]
    assert base64.b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key


def test_an_authenticator_app_with_single_use_backup_codes(
    alice_client: Client, alice: User
) -> None:
    alice_client.post("/accounts/2fa/app/", {"action": "start", "password": "wrong"})
    assert not TOTPDevice.objects.filter(user=alice).exists()
    alice_client.post("/accounts/2fa/app/", {"action": "start", "password": DEFAULT_PASSWORD})
    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    assert "<svg" in alice_client.get("/accounts/2fa/app/").content.decode()
    wrong = (totp(device.bin_key) + 1) % 1_000_000
    response = alice_client.post("/accounts/2fa/app/", {"code": f"{wrong:06d}"})
    assert "does not match" in response.content.decode()
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    response = alice_client.post("/accounts/2fa/app/", {"code": f"{totp(device.bin_key):06d}"})
    codes = response.context["codes"]
    assert len(codes) == 10

    # A new login now accepts a backup code, once.
    fresh = Client()
    fresh.post("/accounts/login/", {"login": alice.email, "password": DEFAULT_PASSWORD})
    page = fresh.get("/accounts/2fa/")
    assert "authenticator app" in page.content.decode()
    assert fresh.post("/accounts/2fa/", {"code": codes[0], "next": "/"})["Location"] == "/"
    again = Client()
    again.post("/accounts/login/", {"login": alice.email, "password": DEFAULT_PASSWORD})
    response = again.post("/accounts/2fa/", {"code": codes[0]})
    assert response.status_code == 200
    assert "wrong or has expired" in response.content.decode()


def test_staff_reach_the_admin_only_after_the_second_factor(client: Client, alice: User) -> None:
    alice.is_staff = alice.is_superuser = True
    alice.save()
    assert client.get("/admin/login/")["Location"].startswith("/accounts/login/")
    client.force_login(alice)
    assert client.get("/admin/")["Location"].startswith("/accounts/2fa/")
    login_verified(client, alice)
    page = client.get("/admin/accounts/user/")
    assert page.status_code == 200
    assert "alice@example.org" in page.content.decode()


def test_a_signed_in_user_who_is_not_staff_gets_a_403_from_the_admin(alice_client: Client) -> None:
    response = alice_client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert len(response.redirect_chain) == 1


@pytest.mark.django_db(transaction=True)
def test_deleting_the_account_needs_the_password_and_removes_everything(
    alice_client: Client, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    alice_client.post("/accounts/avatar/upload/", {"avatar": _jpeg((64, 64))})
    alice.refresh_from_db()
    avatar, storage = alice.avatar.name, alice.avatar.storage
    saved = save_for(alice, "my photo")
    response = alice_client.post("/accounts/delete/", {"password": "wrong"})
    assert "This is not your password." in response.content.decode()
    assert User.objects.filter(pk=alice.pk).exists()

    alice_client.post("/accounts/delete/", {"password": DEFAULT_PASSWORD})
    assert not User.objects.filter(pk=alice.pk).exists()
    assert not storage.exists(avatar)
    assert not SavedAnalysis.objects.filter(owner_id=alice.pk).exists()
    assert not storage.exists(saved.original.name)
    assert alice_client.get("/analyze/")["Location"].startswith("/accounts/login/")


def _confirmed_app(client: Client, user: User) -> tuple[TOTPDevice, list[str]]:
    client.post("/accounts/2fa/app/", {"action": "start", "password": DEFAULT_PASSWORD})
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post("/accounts/2fa/app/", {"code": f"{totp(device.bin_key):06d}"})
    device.refresh_from_db()
    return device, list(response.context["codes"])


def test_removing_the_authenticator_app_needs_the_password(
    alice_client: Client, alice: User
) -> None:
    from django_otp.plugins.otp_static.models import StaticDevice

    _confirmed_app(alice_client, alice)
    alice_client.post("/accounts/2fa/app/remove/", {"password": "wrong"})
    assert TOTPDevice.objects.filter(user=alice, confirmed=True).exists()
    alice_client.post("/accounts/2fa/app/remove/", {"password": DEFAULT_PASSWORD})
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert not StaticDevice.objects.filter(user=alice).exists()
    # Sign-in codes come by email again.
    fresh = Client()
    fresh.post("/accounts/login/", {"login": alice.email, "password": DEFAULT_PASSWORD})
    assert "authenticator app" not in fresh.get("/accounts/2fa/").content.decode()


def test_new_backup_codes_replace_the_old_ones(alice_client: Client, alice: User) -> None:
    _, old_codes = _confirmed_app(alice_client, alice)
    refused = alice_client.post("/accounts/2fa/backup-codes/", {"password": "wrong"})
    assert refused.status_code == 302
    response = alice_client.post("/accounts/2fa/backup-codes/", {"password": DEFAULT_PASSWORD})
    new_codes = list(response.context["codes"])
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)

    def sign_in_with(code: str) -> int:
        fresh = Client()
        fresh.post("/accounts/login/", {"login": alice.email, "password": DEFAULT_PASSWORD})
        return int(fresh.post("/accounts/2fa/", {"code": code, "next": "/"}).status_code)

    assert sign_in_with(old_codes[0]) == 200  # refused: the form again
    assert sign_in_with(new_codes[0]) == 302


def test_removing_the_avatar_deletes_its_file(alice_client: Client, alice: User) -> None:
    alice_client.post("/accounts/avatar/upload/", {"avatar": _jpeg((300, 300))})
    alice.refresh_from_db()
    storage, name = alice.avatar.storage, alice.avatar.name
    assert storage.exists(name)
    alice_client.post("/accounts/avatar/remove/")
    alice.refresh_from_db()
    assert not alice.avatar
    assert not storage.exists(name)
    assert alice_client.get("/accounts/avatar/").status_code == 404


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/path", "http:evil.example"]
)
def test_the_second_step_never_redirects_to_another_site(
    client: Client, alice: User, target: str
) -> None:
    from django.core import mail

    from tests.accounts.helpers import sign_in_code

    client.post("/accounts/login/", {"login": alice.email, "password": DEFAULT_PASSWORD})
    client.get("/accounts/2fa/")
    code = sign_in_code(alice.email)
    response = client.post("/accounts/2fa/", {"code": code, "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert mail.outbox
