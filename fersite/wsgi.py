"""WSGI entry point, for tools that want one; the site itself is served by Daphne over ASGI."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fersite.settings")

application = get_wsgi_application()
