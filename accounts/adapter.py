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
    included) is replaced by accounts.throttle's backoff."""

    def add_message(  # noqa: PLR0917 - allauth's signature, called positionally by allauth.
        self,
        request: HttpRequest,
        level: int,
        message_template: str | None = None,
        message_context: dict[str, Any] | None = None,
        extra_tags: str = "",
        message: str | None = None,
    ) -> None:
        # The password is only the first step: "signed in" is said once the second factor
        # is passed (accounts.views.otp_verify), not on the page that asks for the code.
        if message_template == "account/messages/logged_in.txt":
            return
        super().add_message(
            request,
            level,
            message_template=message_template,
            message_context=message_context,
            extra_tags=extra_tags,
            message=message,
        )

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        # The check happens in authenticate(), which holds the attempt's turn.
        pass

    def authenticate(self, request: HttpRequest, **credentials: Any) -> Any:
        login = _login(credentials)
        with PASSWORDS.attempt(request, login) as wait:
            if wait:
                raise forms.ValidationError(wait_message(wait))
            user = super().authenticate(request, **credentials)
            if user is None:
                PASSWORDS.failed(request, login)
            else:
                PASSWORDS.succeeded(request, login)
            return user
