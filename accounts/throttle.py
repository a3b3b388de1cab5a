"""Growing waits after wrong passwords and wrong second-factor codes.

A fixed lock (five failures, then five minutes for everyone) stops an attacker, but it also
stops the owner who mistyped, and lets anyone lock any account. Here the first few failures
cost nothing, then each further failure doubles a short wait, up to a cap; the right answer
after the wait is accepted. Failures are counted three ways:

- per account and client: the owner mistyping, or one attacker on one account;
- per account from anywhere, with a much higher threshold: guesses spread over many
  addresses; only such an attack can delay the owner, and only past that threshold;
- per client, across accounts: one address trying many accounts.

A success clears the account's counts (never the client's: an attacker with an account of
their own must not reset their count by signing into it); a password reset clears the
account's too. One attempt per account and per client is heard at a time, so a burst of
parallel requests cannot slip several guesses through between two counts.

Counts live in the cache: with Redis (REDIS_URL) they hold across server processes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
    """One kind of attempt (passwords, codes), counted per account and client, per account,
    and per client."""

    name: str
    per_account_client: Backoff
    per_account: Backoff
    per_client: Backoff
    # How long an attempt may hold its turn, at most (a crashed request frees it then).
    turn_seconds: int = 30

    def _scopes(self, request: HttpRequest, account: str | int) -> list[tuple[Backoff, str]]:
        client, owner = _client(request), _account(account)
        return [
            (self.per_account_client, f"{owner}:{client}"),
            (self.per_account, owner),
            (self.per_client, client),
        ]

    @contextmanager
    def attempt(self, request: HttpRequest, account: str | int) -> Iterator[int]:
        """Hold this account's and this client's turn while one attempt is checked; yields
        the seconds to wait (0: go ahead, then call failed() or succeeded())."""
        turns = [
            f"backoff:{self.name}:turn:{_account(account)}",
            f"backoff:{self.name}:turn:{_client(request)}",
        ]
        taken = [key for key in turns if cache.add(key, 1, self.turn_seconds)]
        try:
            if len(taken) < len(turns):
                yield 1  # another attempt for this account or client is being checked
                return
            wait = max(backoff.wait(scope) for backoff, scope in self._scopes(request, account))
            yield math.ceil(wait)
        finally:
            cache.delete_many(taken)

    def failed(self, request: HttpRequest, account: str | int) -> None:
        for backoff, scope in self._scopes(request, account):
            backoff.failed(scope)

    def succeeded(self, request: HttpRequest, account: str | int) -> None:
        for backoff, scope in self._scopes(request, account)[:2]:
            backoff.succeeded(scope)

    def forget_account(self, request: HttpRequest, account: str | int) -> None:
        """Clear the account's counts (after a password reset, which proved the mailbox)."""
        for backoff, scope in self._scopes(request, account)[:2]:
            backoff.succeeded(scope)


# A person mistypes a password a few times; an office behind one address has many people.
PASSWORDS = Guard(
    "password",
    per_account_client=Backoff("password-account-client", free=5),
    per_account=Backoff("password-account", free=50),
    per_client=Backoff("password-client", free=20, cap=5 * 60),
)
# A code is six digits: fewer free tries, since each one is a guess at a small space.
CODES = Guard(
    "code",
    per_account_client=Backoff("code-account-client", free=3),
    per_account=Backoff("code-account", free=20),
    per_client=Backoff("code-client", free=10, cap=5 * 60),
)


def _client(request: HttpRequest) -> str:
    # allauth's reading of the client's address, which honours ALLAUTH_TRUSTED_PROXY_COUNT
    # behind a proxy (where REMOTE_ADDR would be the proxy's, shared by everyone).
    from allauth.account.adapter import get_adapter

    return f"client:{get_adapter(request).get_client_ip(request)}"


def _account(account: str | int) -> str:
    return f"account:{str(account).strip().lower()}"


def wait_message(seconds: int) -> str:
    unit = "second" if seconds == 1 else "seconds"
    return f"Too many wrong attempts. Try again in {seconds} {unit}."
