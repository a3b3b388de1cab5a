"""One 404 for the whole site, in debug mode too.

The API answers 404 in its JSON error shape, even for a URL that matches no route (Django would
answer an HTML page); pages get the site's own 404 page instead of Django's debug page, which
lists every URL pattern of the site to whoever mistypes an address.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

API_PREFIX = "/api/"


class NotFoundMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 404 or not response.get("Content-Type", "").startswith(
            "text/html"
        ):
            return response
        # The response is kept and only its body replaced: the cookies and headers that the
        # middleware further in set (a message consumed, Vary, X-Frame-Options) must survive.
        if request.path.startswith(API_PREFIX):
            body = json.dumps(
                {"error": {"code": "not_found", "message": "There is no such object or URL."}}
            ).encode()
            content_type = "application/json"
        else:
            body = render_to_string("404.html", request=request).encode()
            content_type = "text/html; charset=utf-8"
        response.content = body
        response["Content-Type"] = content_type
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(body))
        return response
