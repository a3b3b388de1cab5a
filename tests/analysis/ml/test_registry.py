"""The process-wide model cache and the one thread that runs every model call."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from analysis.ml.registry import get_model, in_model_thread


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


def test_model_calls_from_any_thread_run_in_the_same_one() -> None:
    def name() -> str:
        return threading.current_thread().name

    with ThreadPoolExecutor(4, thread_name_prefix="caller") as pool:
        names = set(pool.map(lambda _: in_model_thread(name), range(8)))
    assert len(names) == 1
    assert names.pop().startswith("models")


def test_a_nested_call_runs_inline_instead_of_waiting_for_itself() -> None:
    assert in_model_thread(lambda: in_model_thread(lambda: 42)) == 42


def test_an_error_in_the_model_thread_reaches_the_caller() -> None:
    def fail() -> None:
        raise FileNotFoundError("weights")

    with pytest.raises(FileNotFoundError, match="weights"):
        in_model_thread(fail)
