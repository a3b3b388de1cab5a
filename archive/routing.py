"""Websocket routes of the archive app, mounted by fersite.asgi."""

from __future__ import annotations

from django.urls import URLPattern, path

from archive.consumers import JobsConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/jobs/", JobsConsumer.as_asgi()),
]
