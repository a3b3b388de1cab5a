"""TensorFlow helpers the emotion networks share: thread settings and chunked inference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

# The most crops one model call reads.
CHUNK = 128


def set_tensorflow_threads(threads: int) -> None:
    import tensorflow as tf

    # Only possible before the first operation runs; later calls raise, so ignore that case.
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass


def predict_in_chunks(
    run: Callable[[npt.NDArray[np.float32]], Any], batch: npt.NDArray[np.float32], classes: int
) -> npt.NDArray[np.float32]:
    """``run`` over ``batch``, CHUNK items at a time, to bound the memory of one call."""
    outputs = [
        np.asarray(run(batch[start : start + CHUNK]), dtype=np.float32)
        for start in range(0, len(batch), CHUNK)
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, classes), dtype=np.float32)
