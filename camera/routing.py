"""Websocket routes of the camera app, mounted by fersite.asgi."""

from __future__ import annotations

from django.urls import URLPattern, path

from camera.consumers import CameraConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/camera/", CameraConsumer.as_asgi()),
]
