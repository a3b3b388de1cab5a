"""Camera tests end with no task of theirs still running."""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import AsyncIterator

import pytest

# How long the tasks a test leaves have to end once cancelled. A socket's own wait for a
# capture on close (CAPTURE_CLOSE_SECONDS, 8 s) ends within it.
CANCEL_SECONDS = 10.0


@pytest.fixture(autouse=True)
async def _tasks_end_with_their_test() -> AsyncIterator[None]:
    """After each test, cancel the tasks it left; any still running after CANCEL_SECONDS is
    cancelled again until it ends, with a warning that shows where it was.

    The test's event loop, as it closes, cancels each of its tasks once and waits for all of
    them. A channel layer's ``receive`` (channels-redis, in the middle of its BRPOP) can
    outlive one cancellation: the suite then hung for good after
    test_a_socket_stops_analysing_once_its_session_is_gone, and this fixture, run over the
    camera tests, found such a task after two others."""
    yield
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in left:
        task.cancel()
    if not left:
        return
    _, pending = await asyncio.wait(left, timeout=CANCEL_SECONDS)
    if not pending:
        return
    stacks = io.StringIO()
    for task in pending:
        task.print_stack(file=stacks)
    for _ in range(40):
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
        if not pending:
            break
    warnings.warn(
        f"Tasks still ran {CANCEL_SECONDS} s after being cancelled (cancelled again: "
        f"{len(pending)} left):\n{stacks.getvalue()}",
        stacklevel=1,
    )
