"""GET/PATCH /api/v1/me."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(alice: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=alice, name='me').key}")
    return client


def test_it_reads_the_profile(api: APIClient, alice: User) -> None:
    body = api.get("/api/v1/me").json()
    assert body["email"] == "alice@example.org"
    assert body["username"] == "alice"
    assert body["avatar"] is None
    assert body["second_factor"] == {
        "email_code": True,
        "authenticator_app": False,
        "backup_codes_left": 0,
    }


def test_it_changes_the_username_but_keeps_it_unique(
    api: APIClient, alice: User, bob: User
) -> None:
    assert api.patch("/api/v1/me", {"username": "alice2"}, format="json").json()["username"] == (
        "alice2"
    )
    alice.refresh_from_db()
    assert alice.username == "alice2"
    taken = api.patch("/api/v1/me", {"username": "BOB"}, format="json")
    assert taken.status_code == 400
    assert taken.json()["error"]["fields"]["username"] == ["This username is taken."]
    bad = api.patch("/api/v1/me", {"username": "no spaces please"}, format="json")
    assert bad.status_code == 400


def test_it_sets_and_removes_the_avatar_with_the_pages_checks(
    api: APIClient, alice: User, testdata: Path
) -> None:
    with (testdata / "scenes" / "astronaut.png").open("rb") as image:
        body = api.patch("/api/v1/me", {"avatar": image}, format="multipart").json()
    assert body["avatar"].endswith("/accounts/avatar/")
    alice.refresh_from_db()
    stored = alice.avatar.name
    assert stored
    with (testdata / "bad" / "truncated.jpg").open("rb") as broken:
        refused = api.patch("/api/v1/me", {"avatar": broken}, format="multipart")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "validation_error"
    alice.refresh_from_db()
    assert alice.avatar.name == stored  # the old one is kept
    assert api.patch("/api/v1/me", {"remove_avatar": True}, format="json").json()["avatar"] is None
    alice.refresh_from_db()
    assert not alice.avatar


def test_anonymous_clients_get_nothing() -> None:
    response = APIClient().get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
