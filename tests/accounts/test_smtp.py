"""The sign-in code really travels over SMTP, to a local server the test starts."""

from __future__ import annotations

import email
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.conf import LazySettings
from django.core.cache import cache
from django.test import Client

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_inbox(settings: LazySettings) -> Iterator[Inbox]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield inbox
    finally:
        controller.stop()


def test_the_emailed_code_arrives_over_smtp_and_signs_in(
    client: Client, alice: User, smtp_inbox: Inbox
) -> None:
    cache.clear()
    client.post("/accounts/login/", {"login": alice.email, "password": DEFAULT_PASSWORD})
    client.get("/accounts/2fa/")
    assert len(smtp_inbox.messages) == 1
    message = smtp_inbox.messages[0]
    assert message["To"] == alice.email
    assert message["Subject"] == "Your Emotion Lens sign-in code"
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    code = re.search(r"^\s*(\d{6})\s*$", body, re.M).group(1)  # type: ignore[union-attr]
    response = client.post("/accounts/2fa/", {"code": code, "next": "/analyze/"})
    assert response["Location"] == "/analyze/"
    assert client.get("/analyze/").status_code == 200
