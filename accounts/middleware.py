"""Every signed-in session must pass the second factor before any page treats it as signed in."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

# Pages a signed-in but unverified session may still reach: the code page itself, logging
# out, and what the code page needs. The API is guarded by its own authentication classes,
# which treat an unverified session as anonymous.
ALLOWED_URL_NAMES = {"accounts:otp_verify", "account_logout"}


class RequireSecondFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()  # type: ignore[attr-defined]
            and not self._allowed(request)
        ):
            target = reverse("accounts:otp_verify")
            return HttpResponseRedirect(f"{target}?next={quote(request.get_full_path())}")
        return self.get_response(request)

    @staticmethod
    def _allowed(request: HttpRequest) -> bool:
        path = request.path_info
        if path.startswith(("/" + settings.STATIC_URL.lstrip("/"), "/api/", "/healthz")):
            return True
        match = request.resolver_match
        if match is None:
            from django.urls import Resolver404, resolve

            try:
                match = resolve(path)
            except Resolver404:
                return True
        return match.view_name in ALLOWED_URL_NAMES
