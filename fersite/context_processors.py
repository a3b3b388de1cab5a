"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest

from fersite import __version__


def site(request: HttpRequest) -> dict[str, object]:
    # The navigation marks the current section; a page that matched no URL (404) has none.
    match = getattr(request, "resolver_match", None)
    section = (match.app_name or match.url_name or "") if match else ""
    return {"site_name": "Emotion Lens", "site_version": __version__, "nav_section": section}
