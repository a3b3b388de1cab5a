"""A strict Content-Security-Policy on every response.

The app serves all its scripts, styles, fonts and pictures itself (it must run on an intranet),
so nothing needs another origin, and no page runs inline script. The one relaxation is
``style-src-attr``: templates set bar widths and emotion colours in ``style`` attributes, which
cannot run code.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        # Annotated pictures come back as data URLs; previews of local files are blob URLs.
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", POLICY)
        return response


def with_inline_styles(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The policy with inline <style> elements allowed, for a page whose third-party template
    has one (Swagger UI's); scripts stay as strict."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.headers["Content-Security-Policy"] = POLICY.replace(
            "style-src 'self'", "style-src 'self' 'unsafe-inline'", 1
        )
        return response

    return wrapped
