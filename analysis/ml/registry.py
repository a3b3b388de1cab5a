"""Process-wide models, and the lanes that run every model call.

Each model loads once, lazily, on first use, under a lock of its own (an ``lru_cache`` alone
can run a slow loader twice when two threads ask at once).

Model calls run in **lanes**: one thread per kind of work (live camera frames, interactive
analyses, heavy jobs), each with a bounded queue, so a multi-second enhancement never delays a
camera frame or an upload, and a full lane refuses at once (LaneFull) instead of queueing
without end. Work still waiting in a lane can be cancelled through its future.

Why threads of our own rather than each request's thread: PyTorch's OpenMP keeps a team of
worker threads per calling thread, and when requests, camera frames and the warm-up each called
from their own thread, the idle teams kept spinning and MTCNN took 30-50% longer on two cores
(benchmarks/latency.py). With lanes there are exactly as many teams as lanes, each sized on
purpose (LaneSpec.threads), and the heavy lane runs at a lower CPU priority, so on a busy
machine it takes what the others leave.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)

_models: dict[str, object] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def get_model(key: str, loader: Callable[[], T], *, per_lane: bool = False) -> T:
    """Return the model cached under ``key``, calling ``loader`` the first time only.

    ``per_lane``: each lane gets its own instance, for models that must not be called from two
    threads at once (TensorFlow Lite interpreters, OpenCV's cascades)."""
    if per_lane:
        key = f"{current_lane_name() or 'caller'}:{key}"
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


def is_loaded(name: str) -> bool:
    """Whether the model ``name`` is loaded, in any of the keys it may have: "name",
    "name:file" or, for a model loaded once per lane, "lane:name"."""
    return any(name in key.split(":") for key in list(_models))


class LaneFull(RuntimeError):
    """A lane already holds as much work as it may queue."""

    def __init__(self, lane: str) -> None:
        super().__init__(f"The {lane} lane is full.")
        self.lane = lane


@dataclass(frozen=True)
class LaneSpec:
    # Threads a model call of the lane may use (PyTorch's OpenMP team, TFLite interpreters).
    threads: int
    # Calls waiting or running at most; one more is refused with LaneFull.
    capacity: int
    # Added to the lane thread's nice value (Linux: per thread): 0 for work a person waits on.
    nice: int = 0


@dataclass(frozen=True)
class LaneStats:
    name: str
    threads: int
    capacity: int
    pending: int
    done: int
    cancelled: int
    refused: int


_local = threading.local()


def current_lane_name() -> str | None:
    """The lane the calling thread belongs to, None outside every lane."""
    lane: Lane | None = getattr(_local, "lane", None)
    return lane.name if lane is not None else None


def lane_threads(default: int) -> int:
    """The threads a model loaded by the calling thread should use: its lane's, else
    ``default``."""
    lane: Lane | None = getattr(_local, "lane", None)
    return lane.spec.threads if lane is not None else default


class Lane:
    """One thread running submitted calls in order, with at most ``spec.capacity`` of them
    waiting or running. A call cancelled while it waits leaves the queue at once, with
    everything it holds (a camera frame's bytes)."""

    def __init__(self, name: str, spec: LaneSpec) -> None:
        self.name = name
        self.spec = spec
        self._room = threading.Condition(threading.Lock())
        self._queue: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self._running = 0
        self._done = 0
        self._cancelled = 0
        self._refused = 0
        self._thread: threading.Thread | None = None

    def submit(self, work: Callable[[], T], *, wait: float = 0.0) -> Future[T]:
        """Queue ``work``; raises LaneFull when the lane is still at capacity after ``wait``
        seconds. Cancelling the returned future before the work starts keeps it from running."""
        future: Future[T] = Future()
        with self._room:
            if not self._room.wait_for(
                lambda: len(self._queue) + self._running < self.spec.capacity, wait
            ):
                self._refused += 1
                raise LaneFull(self.name)
            self._queue.append((future, work))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name=f"lane-{self.name}", daemon=True
                )
                self._thread.start()
            self._room.notify_all()
        future.add_done_callback(self._forget_if_cancelled)
        return future

    def _forget_if_cancelled(self, future: Future[Any]) -> None:
        if not future.cancelled():
            return
        with self._room:
            for entry in self._queue:
                if entry[0] is future:
                    self._queue.remove(entry)
                    break
            self._cancelled += 1
            self._room.notify_all()

    def _serve(self) -> None:
        _local.lane = self
        if self.spec.nice and sys.platform.startswith("linux"):
            # On Linux a thread's nice value is its own, and threads it starts (OpenMP's team)
            # inherit it.
            try:
                thread = threading.get_native_id()
                nice = os.getpriority(os.PRIO_PROCESS, thread) + self.spec.nice
                os.setpriority(os.PRIO_PROCESS, thread, min(19, nice))
            except OSError:
                logger.warning("Could not lower the priority of the %s lane", self.name)
        while True:
            with self._room:
                self._room.wait_for(lambda: bool(self._queue))
                future, work = self._queue.popleft()
                if not future.set_running_or_notify_cancel():
                    del future, work  # cancelled just now (its callback counts it): keep nothing
                    continue
                self._running += 1
            result: Any = None
            error: BaseException | None = None
            try:
                result = self._run(work)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                error = exc
            # The place is free before the caller hears back: an answered caller may at once
            # submit again, and the counts it reads include its own call.
            with self._room:
                self._running -= 1
                self._done += 1
                self._room.notify_all()
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
            # Nothing of the call is kept once it is answered.
            del future, work, result, error

    def _run(self, work: Callable[[], T]) -> T:
        torch = sys.modules.get("torch")
        # PyTorch sizes its OpenMP team per calling thread: set this lane's own size (cheap).
        if torch is not None and torch.get_num_threads() != self.spec.threads:
            torch.set_num_threads(self.spec.threads)
        return work()

    def stats(self) -> LaneStats:
        with self._room:
            return LaneStats(
                name=self.name,
                threads=self.spec.threads,
                capacity=self.spec.capacity,
                pending=len(self._queue) + self._running,
                done=self._done,
                cancelled=self._cancelled,
                refused=self._refused,
            )


_lanes: dict[str, Lane] = {}
_lanes_guard = threading.Lock()


def lanes_configure(specs: Mapping[str, LaneSpec]) -> None:
    """Create the process's lanes that do not exist yet (a lane, once started, keeps its
    spec for the life of the process)."""
    with _lanes_guard:
        for name, spec in specs.items():
            if name not in _lanes:
                _lanes[name] = Lane(name, spec)


def lane(name: str) -> Lane:
    try:
        return _lanes[name]
    except KeyError:
        raise LookupError(f"No lane {name!r} is configured") from None


def lanes_stats() -> list[LaneStats]:
    with _lanes_guard:
        return [item.stats() for item in _lanes.values()]
