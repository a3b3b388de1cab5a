"""GET /healthz: whether the database, the channel layer and the models are usable."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.settings import api_settings

from fersite import __version__

CHANNEL_LAYER_TIMEOUT_SECONDS = 2.0


def _ping_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _database_status() -> dict[str, object]:
    try:
        _ping_database()
    except DatabaseError as exc:
        # The exception text can name hosts and users: the public answer gives only its kind.
        return {"ok": False, "vendor": connection.vendor, "error": type(exc).__name__}
    return {"ok": True, "vendor": connection.vendor}


async def _round_trip() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    channel = await layer.new_channel("healthz.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "healthz.ping", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("the channel layer returned another message")


async def _channel_layer_check() -> None:
    await asyncio.wait_for(_round_trip(), timeout=CHANNEL_LAYER_TIMEOUT_SECONDS)


def _channel_layer_status() -> dict[str, object]:
    backend = str(settings.CHANNEL_LAYERS["default"]["BACKEND"]).rsplit(".", 1)[-1]
    try:
        async_to_sync(_channel_layer_check)()
    except Exception as exc:  # noqa: BLE001 - any failure means the layer is unusable.
        return {"ok": False, "backend": backend, "error": type(exc).__name__}
    return {"ok": True, "backend": backend}


def _apps_status() -> dict[str, dict[str, object]]:
    """The parts that apps report through a ``health()`` method on their AppConfig."""
    parts: dict[str, dict[str, object]] = {}
    for config in apps.get_app_configs():
        check = getattr(config, "health", None)
        if callable(check):
            parts.update(check())
    return parts


def _may_see_details(request: HttpRequest) -> bool:
    """Staff with a verified session, or any API client with a valid token: the details name
    the server's database, channel layer and models, which anonymous callers need not know."""
    classes: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    drf_request = Request(request, authenticators=[cls() for cls in classes])
    try:
        user = drf_request.user
    except (AuthenticationFailed, DatabaseError):
        # With the database down nobody can be recognised: the caller learns up or down.
        return False
    if not user.is_authenticated:
        return False
    return drf_request.auth is not None or bool(user.is_staff)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Up or down for anyone (a load balancer); the state of each part for staff and tokens."""
    database = _database_status()
    code = 200 if database["ok"] else 503
    if not _may_see_details(request):
        # Only the database decides up or down: the other checks (a channel-layer round trip
        # of up to 2 s, the model files) are done only for those who may see them.
        return JsonResponse({"status": "up" if database["ok"] else "down"}, status=code)
    channel_layer = _channel_layer_status()
    parts = _apps_status()
    # Only the database is essential: without it no page works. A broken channel layer or a
    # missing optional weight file degrades the service but does not take it down.
    if not database["ok"]:
        status = "down"
    elif not (channel_layer["ok"] and all(part["ok"] for part in parts.values())):
        status = "degraded"
    else:
        status = "ok"
    body = {
        "status": status,
        "version": __version__,
        # Which server process answered (with several behind one port: fersite.serve).
        "process": {"pid": os.getpid()},
        "database": database,
        "channel_layer": channel_layer,
        **parts,
    }
    return JsonResponse(body, status=code)
