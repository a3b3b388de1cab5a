"""Who a websocket belongs to: a session that passed the second factor, or an API token.

Runs inside Channels' AuthMiddlewareStack, which has already put the session's user in the
scope. A signed-in session that has not entered its code is treated as anonymous, exactly as
the pages and the API treat it; an ``Authorization: Token <key>`` header in the handshake
authenticates API clients.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from accounts.models import ApiToken
from accounts.services import hash_api_key


@database_sync_to_async
def _token_user(key: str) -> Any:
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_api_key(key)).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


@database_sync_to_async
def _session_verified(session: Any, user: Any) -> bool:
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    if not persistent_id:
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
            scope["user"] = (
                await _token_user(key.strip()) if keyword == "Token" and key else AnonymousUser()
            )
        else:
            user = scope.get("user")
            signed_in = user is not None and user.is_authenticated
            if signed_in and not await _session_verified(scope.get("session"), user):
                scope["user"] = AnonymousUser()
        return await super().__call__(scope, receive, send)
