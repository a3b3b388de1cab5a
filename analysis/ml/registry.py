"""Process-wide model cache: each model loads once, lazily, on first use, under a lock.

An ``lru_cache`` alone can run a slow loader twice when two threads ask at once; here each
model has its own lock. Model calls themselves (and the loads they trigger) run one at a time
in one thread, see in_model_thread: a request queues behind any model work already under way,
including a load or an enhancement of several seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_models: dict[str, object] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def get_model(key: str, loader: Callable[[], T]) -> T:
    """Return the model cached under ``key``, calling ``loader`` the first time only."""
    try:
        return _models[key]  # type: ignore[return-value]
    except KeyError:
        pass
    with _lock_for(key):
        if key not in _models:
            _models[key] = loader()
        return _models[key]  # type: ignore[return-value]


def loaded_models() -> set[str]:
    """The keys of the models this process has loaded so far."""
    return set(_models)


# Every model call of the process runs in this one thread. PyTorch's OpenMP keeps a team of
# worker threads per calling thread; when requests, camera frames and the warm-up each called
# from their own thread, the idle teams kept spinning and MTCNN took 30-50% longer on two cores
# (measured in benchmarks/latency.py). Model calls were serialised by locks anyway.
_model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="models")
_in_model_thread = threading.local()


def in_model_thread(work: Callable[[], T]) -> T:
    """Run ``work`` in the process's model thread and return its result (or raise its error)."""
    if getattr(_in_model_thread, "active", False):
        return work()
    return model_thread_submit(work).result()


def model_thread_submit(work: Callable[[], T]) -> Future[T]:
    """Queue ``work`` for the model thread; the caller waits on the future (and may do its
    own work meanwhile, such as reporting progress, which must not run in the model thread)."""

    def run() -> T:
        _in_model_thread.active = True
        return work()

    return _model_thread.submit(run)
