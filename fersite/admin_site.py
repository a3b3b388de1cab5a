"""The admin, reachable only by staff whose session passed the second factor.

Its own login form is replaced by the site's (email, password, then the code), so there is
no second way in that skips the code.
"""

from __future__ import annotations

from urllib.parse import quote

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse


class SecondFactorAdminSite(admin.AdminSite):
    site_header = "Emotion Lens administration"
    site_title = "Emotion Lens admin"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            super().has_permission(request) and getattr(user, "is_verified", lambda: False)()
        )

    def login(self, request: HttpRequest, extra_context: object = None) -> HttpResponse:
        if request.user.is_authenticated:
            # Signed in (and, past the middleware, verified) but not staff: logging in again
            # would only come back here.
            raise PermissionDenied("The admin is for staff only.")
        target = request.GET.get("next") or reverse("admin:index")
        return HttpResponseRedirect(f"{reverse('account_login')}?next={quote(target)}")
