"""The process-wide model cache and the lanes that run model calls."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from analysis.ml.registry import Lane, LaneFull, LaneSpec, get_model, lane_threads

T = TypeVar("T")


def _call_in(lane: Lane, work: Callable[[], T]) -> T:
    return lane.submit(work).result(timeout=10)


def test_a_model_loads_once_even_when_threads_ask_at_once() -> None:
    loads: list[int] = []

    def load() -> object:
        loads.append(1)
        time.sleep(0.1)  # slow enough for the other threads to ask meanwhile
        return object()

    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(lambda _: get_model("test-once", load), range(4)))
    assert len(loads) == 1
    assert all(model is models[0] for model in models)


def test_a_model_that_cannot_be_shared_gets_one_instance_per_lane() -> None:
    first, second = (
        Lane("test-a", LaneSpec(threads=1, capacity=4)),
        Lane("test-b", LaneSpec(threads=1, capacity=4)),
    )

    def model() -> object:
        return get_model("test-per-lane", object, per_lane=True)

    a1, a2 = _call_in(first, model), _call_in(first, model)
    b = _call_in(second, model)
    assert a1 is a2
    assert a1 is not b
    assert get_model("test-shared", object) is _call_in(
        second, lambda: get_model("test-shared", object)
    )


def test_calls_from_any_thread_run_in_the_lanes_one_thread() -> None:
    lane = Lane("test-one", LaneSpec(threads=1, capacity=16))

    def name() -> str:
        return threading.current_thread().name

    with ThreadPoolExecutor(4) as pool:
        names = set(pool.map(lambda _: _call_in(lane, name), range(8)))
    assert len(names) == 1
    assert names.pop().startswith("lane-test-one")
    assert lane.stats().done == 8
    assert lane.stats().pending == 0


def test_an_error_in_a_lane_reaches_the_caller() -> None:
    lane = Lane("test-error", LaneSpec(threads=1, capacity=2))

    def fail() -> None:
        raise FileNotFoundError("weights")

    with pytest.raises(FileNotFoundError, match="weights"):
        _call_in(lane, fail)
    assert _call_in(lane, lambda: 42) == 42


def test_a_full_lane_refuses_at_once_and_takes_work_again_when_there_is_room() -> None:
    lane = Lane("test-full", LaneSpec(threads=1, capacity=2))
    release = threading.Event()
    running = lane.submit(release.wait)
    queued = lane.submit(lambda: "queued")
    with pytest.raises(LaneFull):
        lane.submit(lambda: "refused")
    assert lane.stats().refused == 1
    # A caller that may wait gets the room the running call leaves.
    threading.Timer(0.2, release.set).start()
    waited = lane.submit(lambda: "waited", wait=10)
    assert running.result(timeout=10) is True
    assert queued.result(timeout=10) == "queued"
    assert waited.result(timeout=10) == "waited"
    assert lane.stats().pending == 0


def test_cancelled_work_never_runs_and_frees_its_place() -> None:
    lane = Lane("test-cancel", LaneSpec(threads=1, capacity=2))
    release = threading.Event()
    ran: list[str] = []
    lane.submit(release.wait)
    queued = lane.submit(lambda: ran.append("queued"))
    assert queued.cancel()
    assert lane.stats().pending == 1
    lane.submit(lambda: ran.append("next"))  # the cancelled call's place is free
    release.set()
    deadline = time.monotonic() + 10
    while lane.stats().pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran == ["next"]
    assert lane.stats().cancelled == 1


def test_each_lane_sets_its_own_thread_counts_and_priority() -> None:
    import torch

    light = Lane("test-light", LaneSpec(threads=1, capacity=2))
    heavy = Lane("test-heavy", LaneSpec(threads=2, capacity=2, nice=5))

    def seen() -> tuple[int, int, int]:
        # What a model loaded here would use, what PyTorch uses, and this thread's nice value.
        return (
            lane_threads(default=7),
            torch.get_num_threads(),
            os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
        )

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    # In turn, so that one lane's setting is seen not to leak into the other.
    for _ in range(2):
        assert _call_in(light, seen) == (1, 1, base)
        assert _call_in(heavy, seen) == (2, 2, min(19, base + 5))
    assert lane_threads(default=7) == 7
    # This thread, outside every lane, keeps its own priority.
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base


def test_a_cancelled_call_leaves_the_queue_with_what_it_holds() -> None:
    import gc
    import weakref

    lane = Lane("test-drop", LaneSpec(threads=1, capacity=4))
    release = threading.Event()
    lane.submit(release.wait)

    class Frame:
        pass

    frame = Frame()
    held = weakref.ref(frame)
    queued = lane.submit(lambda frame=frame: frame)  # type: ignore[misc]
    del frame
    queued.cancel()
    del queued
    gc.collect()
    assert held() is None  # the lane let go of the frame before it ever got its turn
    release.set()
