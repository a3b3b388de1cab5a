"""Websocket routes of the camera app, mounted by fersite.asgi.

The live camera consumer is not built yet, so no route is served: a websocket handshake to
any path is refused by the router.
"""

from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
