"""Growing waits after wrong passwords and wrong second-factor codes.

A fixed lock (five failures, then five minutes for everyone) stops an attacker, but it also
stops the owner who mistyped, and lets anyone lock any account. Here the first few failures
cost nothing, then each further failure doubles a short wait, up to a cap; the right answer
after the wait is accepted. Failures are counted per client (its address) and per account,
so one client cannot try many accounts and many clients cannot try one account quickly; a
success clears the account's count, never the client's (an attacker with an account of their
own must not be able to reset their count by signing into it).

Counts live in the cache: with Redis (REDIS_URL) they hold across server processes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.http import HttpRequest


@dataclass(frozen=True)
class Backoff:
    name: str
    # Failures allowed before any wait.
    free: int
    # The first wait, in seconds; each further failure doubles it, up to ``cap``.
    first_wait: float = 1.0
    cap: float = 15 * 60
    # A count is forgotten after this long without a new failure.
    memory: int = 60 * 60

    def _keys(self, scope: str) -> tuple[str, str]:
        return f"backoff:{self.name}:{scope}:n", f"backoff:{self.name}:{scope}:t"

    def wait(self, scope: str) -> float:
        """Seconds to wait before the next attempt is heard; 0 when it may go ahead."""
        count_key, time_key = self._keys(scope)
        failures = int(cache.get(count_key, 0))
        if failures < self.free:
            return 0.0
        delay = min(self.cap, self.first_wait * 2.0 ** (failures - self.free))
        last = float(cache.get(time_key, 0.0))
        return max(0.0, last + delay - time.time())

    def failed(self, scope: str) -> None:
        count_key, time_key = self._keys(scope)
        # add then incr: atomic in a shared cache, so parallel failures all count.
        cache.add(count_key, 0, self.memory)
        try:
            cache.incr(count_key)
        except ValueError:  # expired between add and incr
            cache.set(count_key, 1, self.memory)
        cache.touch(count_key, self.memory)
        cache.set(time_key, time.time(), self.memory)

    def succeeded(self, scope: str) -> None:
        cache.delete_many(list(self._keys(scope)))


@dataclass(frozen=True)
class Guard:
    """One kind of attempt, counted per account and per client."""

    per_account: Backoff
    per_client: Backoff

    def wait(self, request: HttpRequest, account: str | int) -> int:
        """Whole seconds before this client may try this account again (0: now)."""
        longest = max(
            self.per_account.wait(_account(account)), self.per_client.wait(_client(request))
        )
        return math.ceil(longest)

    def failed(self, request: HttpRequest, account: str | int) -> None:
        self.per_account.failed(_account(account))
        self.per_client.failed(_client(request))

    def succeeded(self, account: str | int) -> None:
        self.per_account.succeeded(_account(account))


# A person mistypes a password a few times; an office behind one address has many people.
PASSWORDS = Guard(Backoff("password-account", free=5), Backoff("password-client", free=20))
# A code is six digits: fewer free tries, since each one is a guess at a small space.
CODES = Guard(Backoff("code-account", free=3), Backoff("code-client", free=10))


def _client(request: HttpRequest) -> str:
    return f"client:{request.META.get('REMOTE_ADDR', '')}"


def _account(account: str | int) -> str:
    return f"account:{str(account).strip().lower()}"


def wait_message(seconds: int) -> str:
    unit = "second" if seconds == 1 else "seconds"
    return f"Too many wrong attempts. Try again in {seconds} {unit}."
