"""ASGI entry point, served by Daphne: HTTP through Django, websockets through Channels."""

import os

from django.apps import apps
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fersite.settings")

# Django must be set up before the routing modules import models and consumers.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.websocket import OriginValidatorForSessions, VerifiedUserMiddleware  # noqa: E402
from archive.routing import websocket_urlpatterns as archive_websockets  # noqa: E402
from camera.routing import websocket_urlpatterns as camera_websockets  # noqa: E402
from fersite import daphne_limits  # noqa: E402
from fersite.body_limit import RequestBodyLimit  # noqa: E402
from fersite.socket_threads import ThreadPerSocket  # noqa: E402

# Apps that need to act when the server starts (the models' warm-up) say so on their AppConfig.
for config in apps.get_app_configs():
    started = getattr(config, "asgi_started", None)
    if callable(started):
        started()
# Daphne must refuse oversized bodies itself: it reads them whole before the application runs.
daphne_limits.install()

websockets = camera_websockets + archive_websockets
application = ProtocolTypeRouter(
    {
        "http": RequestBodyLimit(django_asgi_app),
        "websocket": ThreadPerSocket(
            OriginValidatorForSessions(
                AuthMiddlewareStack(VerifiedUserMiddleware(URLRouter(websockets)))
            )
        ),
    }
)
