"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest

from fersite import __version__


def site(request: HttpRequest) -> dict[str, object]:
    return {"site_name": "Emotion Lens", "site_version": __version__}
