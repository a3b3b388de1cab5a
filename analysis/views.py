"""Pages of the analysis app."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def analyze_page(request: HttpRequest) -> HttpResponse:
    return render(request, "analysis/analyze.html")
