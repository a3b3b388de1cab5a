"""Who a websocket belongs to: a session that passed the second factor, or an API token.

Runs inside Channels' AuthMiddlewareStack, which has already put the session's user in the
scope. A signed-in session that has not entered its code is treated as anonymous, exactly as
the pages and the API treat it; an ``Authorization: Token <key>`` header in the handshake
authenticates API clients. ``scope["still_authorized"]`` checks again later, for a socket that
outlives a logout or a revoked token.
"""

from __future__ import annotations

import time
from typing import Any

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.utils.crypto import constant_time_compare
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from accounts.models import ApiToken, User
from accounts.services import hash_api_key


@database_sync_to_async
def _token_user(key: str) -> Any:
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_api_key(key)).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


@database_sync_to_async
def _token_valid(key: str, user_id: int) -> bool:
    return bool(
        ApiToken.objects.filter(
            key_hash=hash_api_key(key), user_id=user_id, user__is_active=True
        ).exists()
    )


@database_sync_to_async
def _session_verified(session: Any, user: Any) -> bool:
    if session is None or not session.session_key or not session.exists(session.session_key):
        return False
    # Read the stored session again: the copy in the scope was loaded at the handshake.
    session = session.__class__(session.session_key)
    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    if not persistent_id:
        return False
    # As Django's own session check does: the user still active, and the session made with
    # the current password (a new password invalidates the hash stored at login).
    current = User.objects.filter(pk=user.pk, is_active=True).first()
    if current is None or not constant_time_compare(
        str(session.get(HASH_SESSION_KEY, "")), current.get_session_auth_hash()
    ):
        return False
    device = Device.from_persistent_id(persistent_id, for_verify=False)
    return device is not None and device.user_id == user.pk and device.confirmed


def _authorization(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            return bytes(value).decode("latin-1")
    return None


class VerifiedUserMiddleware(BaseMiddleware):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope)
        header = _authorization(scope)
        if header is not None:
            keyword, _, key = header.partition(" ")
            key = key.strip()
            scope["user"] = (
                await _token_user(key) if keyword == "Token" and key else AnonymousUser()
            )
            user = scope["user"]
            scope["still_authorized"] = lambda: _token_valid(key, user.pk)
        else:
            user = scope.get("user")
            signed_in = user is not None and user.is_authenticated
            if signed_in and not await _session_verified(scope.get("session"), user):
                scope["user"] = AnonymousUser()
            session = scope.get("session")
            scope["still_authorized"] = lambda: _session_verified(session, user)
        return await super().__call__(scope, receive, send)


def _has_header(scope: dict[str, Any], wanted: bytes) -> bool:
    return any(bytes(name).lower() == wanted for name, _ in scope.get("headers", []))


class OriginValidatorForSessions:
    """The browser-origin check, for the handshakes that need it.

    A browser always sends ``Origin`` with a websocket handshake, and cannot add an
    ``Authorization`` header to one; so a handshake with a token and no Origin comes from an
    API client, which has no origin to check and whose token is its proof. Every other
    handshake (cookie sessions above all) must come from one of the allowed hosts.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.checked = AllowedHostsOriginValidator(app)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if _has_header(scope, b"authorization") and not _has_header(scope, b"origin"):
            return await self.app(scope, receive, send)
        return await self.checked(scope, receive, send)


# Close code for a handshake without a verified user (like HTTP 401), and for a socket whose
# session ended, whose token was revoked, or whose user changed their credentials.
CLOSE_UNAUTHORIZED = 4401


class ReauthorizingSocket:
    """For consumers (AsyncWebsocketConsumer) of signed-in users: closes the socket with 4401
    when the user's credentials change (the ``credentials.revoked`` event of the user's group)
    or when the session or token no longer stands, asked again at most every few seconds."""

    authorized_at = 0.0

    async def credentials_revoked(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_UNAUTHORIZED)  # type: ignore[attr-defined]

    async def still_authorized(self, recheck_seconds: float) -> bool:
        """Whether the session or token still stands (closing the socket if not); a socket
        outlives a logout or a revoked token otherwise."""
        if time.monotonic() - self.authorized_at < recheck_seconds:
            return True
        scope: dict[str, Any] = self.scope  # type: ignore[attr-defined]
        if not await scope["still_authorized"]():
            await self.close(code=CLOSE_UNAUTHORIZED)  # type: ignore[attr-defined]
            return False
        self.authorized_at = time.monotonic()
        return True
