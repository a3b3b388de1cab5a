"""ASGI entry point, served by Daphne: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fersite.settings")

# Django must be set up before the routing modules import models and consumers.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from accounts.websocket import VerifiedUserMiddleware  # noqa: E402
from camera.routing import websocket_urlpatterns  # noqa: E402
from fersite.warmup import start_warm_up  # noqa: E402

start_warm_up()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(VerifiedUserMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
