"""Reading codes and links from the mails the tests capture."""

from __future__ import annotations

import re

from django.core import mail

PASSWORD = "a-Long-passw0rd!"


def last_mail_to(address: str) -> mail.EmailMessage:
    for message in reversed(mail.outbox):
        if address in message.to:
            return message
    raise AssertionError(f"no mail was sent to {address}")


def signup_code(address: str) -> str:
    """allauth's email verification code, e.g. GMGM-NWRR."""
    match = re.search(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", last_mail_to(address).body, re.M)
    assert match, last_mail_to(address).body
    return match.group(1)


def sign_in_code(address: str) -> str:
    """The 6-digit second-factor code."""
    match = re.search(r"^\s*(\d{6})\s*$", last_mail_to(address).body, re.M)
    assert match, last_mail_to(address).body
    return match.group(1)


def reset_link(address: str) -> str:
    match = re.search(
        r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", last_mail_to(address).body
    )
    assert match, last_mail_to(address).body
    return match.group(1)
