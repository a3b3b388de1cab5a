"""allauth's adapter: wrong passwords cost growing waits instead of a fixed lock."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.http import HttpRequest

from accounts.throttle import PASSWORDS, wait_message


def _login(credentials: dict[str, Any]) -> str:
    return str(credentials.get("email") or credentials.get("username") or "")


class AccountAdapter(DefaultAccountAdapter):
    """allauth's own limit on failed logins (five, then five minutes for everyone, the owner
    included) is replaced by accounts.throttle's per-client and per-account backoff."""

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        wait = PASSWORDS.wait(request, _login(credentials))
        if wait:
            raise forms.ValidationError(wait_message(wait))

    def authenticate(self, request: HttpRequest, **credentials: Any) -> Any:
        user = super().authenticate(request, **credentials)
        if user is not None:
            PASSWORDS.succeeded(_login(credentials))
        return user

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        PASSWORDS.failed(request, _login(credentials))
