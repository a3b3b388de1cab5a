"""Refusing request bodies over the limit before they are read, for every HTTP route.

Django reads a whole request body before any view can look at it, so a limit checked in a view
comes after the memory is spent. This ASGI middleware answers 413 from the ``Content-Length``
header alone, without reading a byte of the body, and stops a body sent without one (chunked)
as soon as it passes the limit. Under Daphne, :mod:`fersite.daphne_limits` also stops the
server itself from receiving such a body.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

Scope = Any
Message = Any
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """Raised inside the application when a body without a length passes the limit."""


def request_body_limit(path: str = "", *, method: str = "", credentials: bool = False) -> int:
    """The largest request body the site accepts, in bytes (from the settings):
    REQUEST_MAX_BYTES, or REQUEST_MAX_BYTES_BY_PATH's limit for a POST to exactly that path
    from a client that sends credentials (a session cookie or an Authorization header: they
    are checked later, by the view; an anonymous client never gets past the usual limit)."""
    from django.conf import settings

    by_path: dict[str, int] = getattr(settings, "REQUEST_MAX_BYTES_BY_PATH", {})
    if method == "POST" and credentials and path.rstrip("/") in by_path:
        return int(by_path[path.rstrip("/")])
    return int(settings.REQUEST_MAX_BYTES)


def has_credentials(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request carries an Authorization header or a session cookie."""
    from django.conf import settings

    cookie = settings.SESSION_COOKIE_NAME.encode() + b"="
    for name, value in headers:
        lowered = bytes(name).lower()
        if lowered == b"authorization" or (lowered == b"cookie" and cookie in bytes(value)):
            return True
    return False


def too_large_body(limit: int) -> bytes:
    """The API's error shape for a body over ``limit`` bytes."""
    message = f"The request is larger than the limit of {limit / 1_048_576:.0f} MB."
    return json.dumps({"error": {"code": "file_too_large", "message": message}}).encode()


def content_length(scope: Scope) -> int | None:
    """The declared body length; None when absent. A malformed one counts as too large."""
    for name, value in scope.get("headers", []):
        if bytes(name).lower() == b"content-length":
            try:
                length = int(bytes(value))
            except ValueError:
                return -1
            return length if length >= 0 else -1
    return None


class RequestBodyLimit:
    """ASGI middleware: 413 with the JSON error shape for bodies over the limit."""

    def __init__(self, app: ASGIApp, *, limit: Callable[..., int] = request_body_limit) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(
            scope.get("path", ""),
            method=scope.get("method", ""),
            credentials=has_credentials(scope.get("headers", [])),
        )
        length = content_length(scope)
        if length is not None and (length < 0 or length > limit):
            await _refuse(send, limit, bad_length=length < 0)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, limit)


async def _refuse(send: Send, limit: int, *, bad_length: bool = False) -> None:
    if bad_length:
        status = 400
        body = json.dumps(
            {"error": {"code": "validation_error", "message": "Malformed Content-Length."}}
        ).encode()
    else:
        status, body = 413, too_large_body(limit)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
