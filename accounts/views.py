"""Profile pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def profile_page(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/profile.html")


@login_required
def avatar_file(request: HttpRequest) -> FileResponse:
    """The signed-in user's avatar, served by the app: media files have no public URL."""
    avatar = request.user.avatar  # type: ignore[union-attr]
    if not avatar:
        raise Http404("No avatar")
    response = FileResponse(avatar.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response
