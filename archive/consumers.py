"""Websocket `/ws/jobs/`: the progress of the user's jobs as it happens.

Each event is one text message ``{"type": "job", "job": {"id", "kind", "state", "progress",
"message", "error"}}``, sent by the worker through the channel layer (group ``jobs.<user>``).
The page also polls ``GET /api/v1/jobs/{id}``, so a missed event costs nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from accounts.services import user_group
from accounts.websocket import CLOSE_UNAUTHORIZED, ReauthorizingSocket
from archive.jobs import group_name

AUTH_RECHECK_SECONDS = 5.0


class JobsConsumer(AsyncWebsocketConsumer, ReauthorizingSocket):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or self.channel_layer is None:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.groups_joined = [group_name(user.pk), user_group(user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        self.authorized_at = time.monotonic()
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.channel_layer is None:
            return
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Clients only listen; a ping is answered so that they can tell the socket lives."""
        if text_data == "ping":
            await self.send(text_data="pong")

    async def job_event(self, event: dict[str, Any]) -> None:
        if not await self.still_authorized(AUTH_RECHECK_SECONDS):
            return
        await self.send(text_data=json.dumps({"type": "job", "job": event["job"]}))
