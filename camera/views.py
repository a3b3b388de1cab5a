"""Pages of the camera app."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def live_page(request: HttpRequest) -> HttpResponse:
    return render(request, "camera/live.html")
