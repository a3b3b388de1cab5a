"""Each websocket's synchronous work on a thread of its own.

Channels runs a consumer's database calls (``database_sync_to_async``) thread-sensitively:
outside a ``ThreadSensitiveContext``, on one thread that the whole process shares. Django gives
each HTTP request a context of its own; Channels gives websockets none. So one socket's slow
database work (a camera capture saved to storage, a wait for a lock) held up every other
socket of the process, each of whose messages Channels begins with a database call (closing
stale connections). This middleware gives each websocket its own context, and with it its own
thread, for as long as the socket is open.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import connections


class ThreadPerSocket:
    """ASGI middleware for websockets (see the module)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async with ThreadSensitiveContext():
            try:
                await self.app(scope, receive, send)
            finally:
                # The thread ends with the socket: its database connections must not outlive
                # it unclosed (with DATABASE_CONN_MAX_AGE, they are kept between calls).
                await sync_to_async(connections.close_all)()
