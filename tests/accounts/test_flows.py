"""Every account flow end to end through Django's test client, with its failure paths."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_email.models import EmailDevice

from accounts.models import ApiToken, User
from accounts.services import api_token_create
from tests.accounts.helpers import (
    PASSWORD,
    last_mail_to,
    reset_link,
    sign_in_code,
    signup_code,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    # Rate limits and attempt counters live in the cache; each test starts without any.
    cache.clear()


@pytest.fixture
def verified_user() -> User:
    user: User = UserFactory(email="carol@example.org", username="carol", password=PASSWORD)
    return user


def _signup(client: Client, email: str = "new@example.org", username: str = "newbie"):  # type: ignore[no-untyped-def]
    return client.post(
        "/accounts/signup/",
        {"email": email, "username": username, "password1": PASSWORD, "password2": PASSWORD},
    )


def _login(client: Client, email: str = "carol@example.org", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/accounts/login/", {"login": email, "password": password})


def _code_after_login(client: Client, user: User) -> str:
    client.get("/accounts/2fa/")
    return sign_in_code(user.email)


def _enter_code(client: Client, code: str, next_url: str = "/analyze/"):  # type: ignore[no-untyped-def]
    return client.post("/accounts/2fa/", {"code": code, "next": next_url})


def test_signup_needs_the_emailed_code_and_then_signs_in(client: Client) -> None:
    response = _signup(client)
    assert response["Location"] == "/accounts/confirm-email/"
    # Until the address is verified the account is unusable.
    assert client.get("/analyze/").status_code == 302
    assert not EmailAddress.objects.get(email="new@example.org").verified

    wrong = client.post("/accounts/confirm-email/", {"code": "AAAA-AAAA"})
    assert wrong.status_code == 200
    assert "Incorrect code" in wrong.content.decode()

    response = client.post("/accounts/confirm-email/", {"code": signup_code("new@example.org")})
    assert response.status_code == 302
    assert EmailAddress.objects.get(email="new@example.org").verified
    # The code that confirmed the address counts as the second factor of this session.
    assert client.get("/analyze/").status_code == 200


def test_an_unverified_account_cannot_log_in(client: Client) -> None:
    _signup(client)
    client.logout()
    cache.clear()  # As if the verification mail's short resend limit had passed.
    response = _login(client, "new@example.org")
    assert response["Location"] == "/accounts/confirm-email/"
    assert client.get("/analyze/").status_code == 302


def test_login_asks_for_the_emailed_code_before_any_page(
    client: Client, verified_user: User
) -> None:
    response = _login(client)
    assert response.status_code == 302
    page = client.get("/analyze/")
    assert page["Location"] == "/accounts/2fa/?next=/analyze/"
    assert client.get("/accounts/profile/")["Location"].startswith("/accounts/2fa/")
    page = client.get("/accounts/2fa/?next=/analyze/")
    assert "We emailed a 6-digit code" in page.content.decode()
    code = sign_in_code(verified_user.email)

    wrong = _enter_code(client, "000000" if code != "000000" else "111111")
    assert "wrong or has expired" in wrong.content.decode()
    EmailDevice.objects.filter(user=verified_user).update(throttling_failure_count=0)

    response = _enter_code(client, code)
    assert response["Location"] == "/analyze/"
    assert client.get("/analyze/").status_code == 200


def test_an_expired_code_is_refused(client: Client, verified_user: User) -> None:
    _login(client)
    client.get("/accounts/2fa/")
    code = sign_in_code(verified_user.email)
    EmailDevice.objects.filter(user=verified_user).update(
        valid_until=timezone.now() - dt.timedelta(seconds=1)
    )
    response = _enter_code(client, code)
    assert "wrong or has expired" in response.content.decode()
    assert client.get("/analyze/").status_code == 302


class _Clock:
    """Stands in for time.time in accounts.throttle, so waits pass without sleeping."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    from accounts import throttle

    fake = _Clock()
    monkeypatch.setattr(throttle.time, "time", fake)
    return fake


def test_the_right_code_right_after_a_wrong_one_signs_in(
    client: Client, verified_user: User
) -> None:
    _login(client)
    client.get("/accounts/2fa/")
    code = sign_in_code(verified_user.email)
    wrong = "000000" if code != "000000" else "111111"
    assert "wrong or has expired" in _enter_code(client, wrong).content.decode()
    response = _enter_code(client, code)
    assert response.status_code == 302
    assert client.get("/analyze/").status_code == 200


def test_wrong_codes_cost_growing_waits_and_the_right_code_works_after_them(
    client: Client, verified_user: User, clock: _Clock
) -> None:
    _login(client)
    client.get("/accounts/2fa/")
    code = sign_in_code(verified_user.email)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(3):  # the free tries
        _enter_code(client, wrong)
    # Now even the right code waits a second...
    assert "Try again in 1 second." in _enter_code(client, code).content.decode()
    clock.now += 1.5
    # ...and a further wrong one doubles the wait.
    _enter_code(client, wrong)
    assert "Try again in 2 seconds." in _enter_code(client, code).content.decode()
    clock.now += 2.5
    assert _enter_code(client, code).status_code == 302
    assert client.get("/analyze/").status_code == 200


def test_wrong_passwords_cost_short_growing_waits_not_a_lockout(
    client: Client, verified_user: User, clock: _Clock
) -> None:
    for _ in range(5):
        _login(client, password="not-the-password")
    page = _login(client).content.decode()
    assert "Try again in 1 second." in page
    clock.now += 1.5
    _login(client, password="not-the-password")
    assert "Try again in 2 seconds." in _login(client).content.decode()
    clock.now += 2.5
    # The owner who then types the right password gets in (a fixed lock held them 5 minutes).
    assert _login(client).status_code == 302
    # A success clears the account's count: five typos are free again, and no wait follows.
    client.post("/accounts/logout/")
    for _ in range(5):
        assert "Try again" not in _login(client, password="typo").content.decode()
    assert "Try again" in _login(client).content.decode()


def test_someone_guessing_from_elsewhere_does_not_delay_the_owner(
    verified_user: User, clock: _Clock
) -> None:
    attacker = Client(REMOTE_ADDR="198.51.100.9")
    for _ in range(8):
        _login(attacker, password="guess")
    assert "Try again" in _login(attacker, password="guess").content.decode()
    # The owner, at their own address, signs in at once.
    assert _login(Client(REMOTE_ADDR="192.0.2.44")).status_code == 302


def test_a_password_reset_clears_the_wait(
    client: Client, verified_user: User, clock: _Clock
) -> None:
    for _ in range(7):
        _login(client, password="forgotten")
    assert "Try again" in _login(client).content.decode()
    client.post("/accounts/password/reset/", {"email": verified_user.email})
    form_url = client.get(reset_link(verified_user.email))["Location"]
    client.post(form_url, {"password1": "another-Passw0rd!", "password2": "another-Passw0rd!"})
    assert _login(Client(), password="another-Passw0rd!").status_code == 302


def test_only_one_attempt_per_account_is_heard_at_a_time(
    client: Client, verified_user: User
) -> None:
    from django.core.cache import cache

    # As if a parallel request for this account were being checked right now.
    cache.add(f"backoff:password:turn:account:{verified_user.email}", 1, 30)
    assert "Try again in 1 second." in _login(client).content.decode()
    cache.delete(f"backoff:password:turn:account:{verified_user.email}")
    assert _login(client).status_code == 302


def test_an_upgraded_password_hash_at_login_keeps_the_tokens(
    verified_user: User, settings: Any
) -> None:
    from django.contrib.auth.hashers import make_password

    # Django re-hashes a password at login when the preferred hasher changed: not a new one.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    User.objects.filter(pk=verified_user.pk).update(password=make_password(PASSWORD, None, "md5"))
    verified_user.refresh_from_db()
    api_token_create(user=verified_user, name="script")
    assert verified_user.check_password(PASSWORD)
    verified_user.refresh_from_db()
    assert verified_user.password.startswith("pbkdf2_")
    assert ApiToken.objects.filter(user=verified_user).count() == 1


def test_one_client_trying_many_accounts_is_slowed_down(client: Client, clock: _Clock) -> None:
    for number in range(20):
        _login(client, email=f"someone{number}@example.org", password="guess")
    page = _login(client, email="yet-another@example.org", password="guess").content.decode()
    assert "Try again in 1 second." in page
    # Another client is not slowed down by it.
    other = Client(REMOTE_ADDR="192.0.2.7")
    assert "Try again" not in _login(other, password="guess").content.decode()


def test_resending_a_code_has_a_cooldown(client: Client, verified_user: User) -> None:
    _login(client)
    client.get("/accounts/2fa/")
    assert len(mail.outbox) == 1
    response = client.post("/accounts/2fa/", {"action": "resend"}, follow=True)
    assert "ask for a new one in" in response.content.decode()
    assert len(mail.outbox) == 1
    EmailDevice.objects.filter(user=verified_user).update(last_generated_timestamp=None)
    client.post("/accounts/2fa/", {"action": "resend"})
    assert len(mail.outbox) == 2


def test_an_unverified_session_gets_no_api_data(client: Client, verified_user: User) -> None:
    _login(client)
    response = client.post("/api/v1/detect", {})
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


def test_anonymous_visitors_get_no_page_that_needs_login(client: Client) -> None:
    for path in ("/analyze/", "/archive/", "/accounts/profile/", "/accounts/tokens/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_password_reset_does_not_reveal_who_is_registered(
    client: Client, verified_user: User
) -> None:
    known = Client().post("/accounts/password/reset/", {"email": verified_user.email})
    unknown = Client().post("/accounts/password/reset/", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    # The pages that follow read the same, but for the address itself.
    page_known = Client().get(known["Location"]).content.decode()
    page_unknown = Client().get(unknown["Location"]).content.decode()
    assert page_known == page_unknown
    # Only the mailbox's owner learns the answer: the registered address gets a link, the
    # other a mail that says no account uses it.
    assert reset_link(verified_user.email)
    assert "/password/reset/key/" not in last_mail_to("nobody@example.org").body


def test_password_reset_by_link_works_once(client: Client, verified_user: User) -> None:
    client.post("/accounts/password/reset/", {"email": verified_user.email})
    link = reset_link(verified_user.email)
    form_url = client.get(link)["Location"]
    new_password = "another-Passw0rd!"
    response = client.post(form_url, {"password1": new_password, "password2": new_password})
    assert response.status_code == 302
    verified_user.refresh_from_db()
    assert verified_user.check_password(new_password)

    # The same link cannot be used again: setting a third password through it changes nothing.
    again = Client()
    opened = again.get(link)
    target = opened["Location"] if opened.status_code == 302 else link
    again.post(target, {"password1": "third-Passw0rd!", "password2": "third-Passw0rd!"})
    verified_user.refresh_from_db()
    assert verified_user.check_password(new_password)
    assert not verified_user.check_password("third-Passw0rd!")
    assert _login(Client(), password=new_password).status_code == 302


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(
    client: Client, verified_user: User
) -> None:
    from tests.conftest import login_verified

    other = Client()
    login_verified(client, verified_user)
    login_verified(other, verified_user)
    key = api_token_create(user=verified_user, name="script").key
    assert client.get("/api/v1/analyses", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    response = client.post(
        "/accounts/password/change/",
        {
            "oldpassword": PASSWORD,
            "password1": "changed-Passw0rd!",
            "password2": "changed-Passw0rd!",
        },
    )
    assert response.status_code == 302
    assert other.get("/analyze/")["Location"].startswith("/accounts/login/")
    # The person who changed it stays signed in, second factor included: no new code to wait for.
    assert client.get("/analyze/").status_code == 200
    assert not mail.outbox
    # A token handed out under the old password stops working with it.
    assert Client().get("/api/v1/analyses", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert not ApiToken.objects.filter(user=verified_user).exists()


def test_a_password_reset_revokes_the_api_tokens(client: Client, verified_user: User) -> None:
    api_token_create(user=verified_user, name="script")
    client.post("/accounts/password/reset/", {"email": verified_user.email})
    form_url = client.get(reset_link(verified_user.email))["Location"]
    client.post(form_url, {"password1": "another-Passw0rd!", "password2": "another-Passw0rd!"})
    assert not ApiToken.objects.filter(user=verified_user).exists()


def test_signing_in_keeps_the_api_tokens(client: Client, verified_user: User) -> None:
    api_token_create(user=verified_user, name="script")
    _login(client)
    _enter_code(client, _code_after_login(client, verified_user))
    verified_user.refresh_from_db()
    assert verified_user.last_login is not None
    assert ApiToken.objects.filter(user=verified_user).count() == 1


def test_a_mail_failure_shows_a_message_and_allows_a_retry(
    client: Client, verified_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    import smtplib

    def broken_send(*args: object, **kwargs: object) -> None:
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(EmailDevice, "send_mail", broken_send)
    _login(client)
    page = client.get("/accounts/2fa/")
    assert page.status_code == 200
    assert "could not be sent" in page.content.decode()
    monkeypatch.undo()
    client.post("/accounts/2fa/", {"action": "resend"})
    assert len(mail.outbox) == 1


def test_the_verification_code_can_be_resent_after_a_cooldown(client: Client) -> None:
    _signup(client)
    assert len(mail.outbox) == 1
    client.post("/accounts/confirm-email/", {"action": "resend"})
    assert len(mail.outbox) == 1  # too soon: allauth's limit holds it back
    cache.clear()  # as if the cooldown had passed
    client.post("/accounts/confirm-email/", {"action": "resend"})
    assert len(mail.outbox) == 2
    assert mail.outbox[1].to == ["new@example.org"]


def test_changing_the_email_needs_the_new_address_verified(
    client: Client, verified_user: User
) -> None:
    from tests.conftest import login_verified

    login_verified(client, verified_user)
    response = client.post("/accounts/email/", {"action_add": "", "email": "carol.new@example.org"})
    assert response.status_code in (200, 302)
    code = signup_code("carol.new@example.org")
    # Until the code comes back, the old address stays the login.
    assert not EmailAddress.objects.filter(email="carol.new@example.org", verified=True).exists()
    verified_user.refresh_from_db()
    assert verified_user.email == "carol@example.org"
    api_token_create(user=verified_user, name="script")
    client.post("/accounts/confirm-email/", {"code": code})
    assert EmailAddress.objects.get(email="carol.new@example.org").verified
    verified_user.refresh_from_db()
    assert verified_user.email == "carol.new@example.org"
    # Tokens made under the old address are revoked with the change.
    assert not ApiToken.objects.filter(user=verified_user).exists()


def test_the_code_page_says_nothing_of_the_account_until_the_code_is_in(
    client: Client, verified_user: User
) -> None:
    _login(client)
    page = client.get("/accounts/2fa/").content.decode()
    assert "Successfully signed in" not in page
    assert verified_user.username not in page.split("<main", 1)[0]  # not in the navigation
    assert "Cancel sign-in" in page
    # A reload neither sends another code nor warns about a rate limit.
    again = client.get("/accounts/2fa/").content.decode()
    assert len(mail.outbox) == 1
    assert "ask for a new one" not in again
    assert "Too many" not in again
    done = client.post("/accounts/2fa/", {"code": sign_in_code(verified_user.email), "next": "/"})
    assert "Signed in as carol." in client.get(done["Location"]).content.decode()


def test_the_login_form_puts_labels_above_inputs_and_errors_under_them(client: Client) -> None:
    page = client.get("/accounts/login/").content.decode()
    assert "Remember Me:" not in page
    assert 'class="inline-check"' in page
    wrong = _login(client, password="wrong").content.decode()
    form = wrong.split("<form", 1)[1]
    # The message follows the fields' labels' opening, not a bare list before them.
    assert 'class="message message-error"' in form
    assert '<ul class="errorlist' not in form
