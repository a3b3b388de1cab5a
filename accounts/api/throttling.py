"""Per-user limits on the expensive endpoints: 429 with Retry-After and the code ``throttled``.

DRF's scoped throttle, with the rates read from the settings at each request (so that tests and
deployments can change them; DRF's own class reads them once, at import), and a way to say how
much of a user's allowance is left (the usage page and API show it).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache as default_cache
from rest_framework.throttling import ScopedRateThrottle


class UserScopedThrottle(ScopedRateThrottle):
    """``throttle_scope`` on the view names the rate in settings.API_THROTTLE_RATES."""

    def get_rate(self) -> str | None:
        rates: dict[str, str | None] = settings.API_THROTTLE_RATES
        return rates.get(self.scope) if self.scope else None


def allowance(user_id: int) -> dict[str, dict[str, Any]]:
    """For each throttled scope: the rate, and how many requests are left in its window."""
    throttle = UserScopedThrottle()
    left = {}
    for scope, rate in settings.API_THROTTLE_RATES.items():
        if not rate:
            continue
        requests, duration = throttle.parse_rate(rate)
        if requests is None or duration is None:
            continue
        key = throttle.cache_format % {"scope": scope, "ident": user_id}
        now = time.time()
        history = [t for t in default_cache.get(key, []) if t > now - duration]
        left[scope] = {"rate": rate, "remaining": max(0, requests - len(history))}
    return left
