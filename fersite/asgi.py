"""ASGI entry point, served by Daphne: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fersite.settings")

# Django must be set up before the routing modules import models and consumers.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.websocket import OriginValidatorForSessions, VerifiedUserMiddleware  # noqa: E402
from camera.routing import websocket_urlpatterns  # noqa: E402
from fersite import daphne_limits  # noqa: E402
from fersite.body_limit import RequestBodyLimit  # noqa: E402
from fersite.warmup import start_warm_up  # noqa: E402

start_warm_up()
# Daphne must refuse oversized bodies itself: it reads them whole before the application runs.
daphne_limits.install()

application = ProtocolTypeRouter(
    {
        "http": RequestBodyLimit(django_asgi_app),
        "websocket": OriginValidatorForSessions(
            AuthMiddlewareStack(VerifiedUserMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
