"""face-api.js's face expression network, run with TensorFlow.

A small DenseNet-like network: four blocks of (depthwise separable) 3x3 convolutions, each block
halving the resolution and feeding every convolution the sum of the ones before it, then a 7x7
average pool and one dense layer. It reads 112x112 RGB faces, less the mean colour of its
training faces, divided by 255, and answers 7 softmax scores. The weights are stored as a
TensorFlow.js manifest and a binary file, most tensors quantised to 8 bits, which are expanded
here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.ml.tf_runtime import predict_in_chunks, set_tensorflow_threads
from analysis.ml.types import EMOTIONS
from analysis.ml.weights import faceapi_expression_model

_MODEL_LABELS = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")
_TO_API_ORDER = [_MODEL_LABELS.index(label) for label in EMOTIONS]
_MEAN_RGB = (122.782, 117.001, 104.298)
_BLOCKS = ("dense0", "dense1", "dense2", "dense3")
# The files of @vladmandic/face-api 1.7.15's model/ folder (MIT), which are face-api.js's
# FaceExpressionNet weights unchanged; manage.py models_fetch puts them in ML_MODELS_DIR.
MANIFEST = "face_expression_model-weights_manifest.json"
WEIGHTS_SHA256 = {
    MANIFEST: "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8",
    "face_expression_model.bin": "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d",
}


def load_weights(manifest_path: Path, *, sha256: dict[str, str] | None = None) -> dict[str, Any]:
    """The named tensors of a TensorFlow.js weights manifest: float32 (dequantised from 8 or
    16 bits where stored so), or int32 for integer tensors.

    With ``sha256`` (file name: digest), every file read must have its digest. Any file that
    is missing, altered or malformed raises OSError.
    """
    try:
        return _read_weights(manifest_path, sha256)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise OSError(f"{manifest_path} is not a readable weights manifest: {exc}") from exc


def _read(path: Path, sha256: dict[str, str] | None) -> bytes:
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256.get(path.name):
        raise OSError(f"{path} is not the expected file (its SHA-256 differs)")
    return data


def _read_weights(manifest_path: Path, sha256: dict[str, str] | None) -> dict[str, Any]:
    manifest = json.loads(_read(manifest_path, sha256))
    if isinstance(manifest, dict):  # a graph model: its topology, then the weights manifest
        manifest = manifest["weightsManifest"]
    tensors: dict[str, Any] = {}
    for group in manifest:
        data = b"".join(_read(manifest_path.parent / path, sha256) for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"]))
            quantization = spec.get("quantization")
            stored = quantization["dtype"] if quantization is not None else spec["dtype"]
            if stored == "uint8":
                raw = np.frombuffer(data, np.uint8, count, offset).astype(np.float32)
                values = raw * quantization["scale"] + quantization["min"]
            elif stored in ("float16", "float32", "int32"):
                values = np.frombuffer(data, np.dtype(stored), count, offset)
            else:
                raise OSError(f"Unsupported tensor type {stored}")
            offset += values.nbytes if stored != "uint8" else count
            tensors[spec["name"]] = values.reshape(spec["shape"]).astype(
                np.int32 if stored == "int32" else np.float32
            )
        if offset != len(data):
            raise OSError(f"{manifest_path} describes {offset} bytes, the files hold {len(data)}")
    return tensors


class FaceExpressionClassifier:
    name = "face-api-expression"
    input_size = 112
    channels = 3

    def __init__(self, *, models_dir: Path, threads: int = 2) -> None:
        weights = faceapi_expression_model(models_dir)
        if not weights.present or weights.path is None:
            raise FileNotFoundError(
                f"The face expression weights are missing from {weights.path}: {weights.source}"
            )
        import tensorflow as tf

        set_tensorflow_threads(threads)
        manifest = weights.path.with_name(MANIFEST)
        w = {
            name: tf.constant(value)
            for name, value in load_weights(manifest, sha256=WEIGHTS_SHA256).items()
        }
        mean = tf.constant(_MEAN_RGB, dtype=tf.float32)

        def separable(x: Any, prefix: str, stride: int) -> Any:
            return (
                tf.nn.separable_conv2d(
                    x,
                    w[f"{prefix}/depthwise_filter"],
                    w[f"{prefix}/pointwise_filter"],
                    [1, stride, stride, 1],
                    "SAME",
                )
                + w[f"{prefix}/bias"]
            )

        def block(x: Any, name: str) -> Any:
            if name == _BLOCKS[0]:
                first = tf.nn.conv2d(x, w[f"{name}/conv0/filters"], 2, "SAME")
                out1 = tf.nn.relu(first + w[f"{name}/conv0/bias"])
            else:
                out1 = tf.nn.relu(separable(x, f"{name}/conv0", 2))
            out2 = separable(out1, f"{name}/conv1", 1)
            out3 = separable(tf.nn.relu(out1 + out2), f"{name}/conv2", 1)
            out4 = separable(tf.nn.relu(out1 + out2 + out3), f"{name}/conv3", 1)
            return tf.nn.relu(out1 + out2 + out3 + out4)

        # One traced graph for any batch size (the batch dimension is left open).
        @tf.function(input_signature=[tf.TensorSpec([None, 112, 112, 3], tf.float32)])
        def forward(faces: Any) -> Any:
            x = (faces - mean) / 255.0
            for name in _BLOCKS:
                x = block(x, name)
            x = tf.reshape(tf.nn.avg_pool2d(x, 7, 2, "VALID"), [-1, w["fc/weights"].shape[0]])
            return tf.nn.softmax(tf.matmul(x, w["fc/weights"]) + w["fc/bias"])

        self._forward = forward

    def predict(self, faces: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Probabilities in EMOTIONS order for N x 112 x 112 x 3 RGB faces in [0, 255]."""
        batch = np.ascontiguousarray(faces, dtype=np.float32)
        scores = predict_in_chunks(self._forward, batch, len(EMOTIONS))
        return scores[:, _TO_API_ORDER]

    def warm_up(self) -> None:
        self.predict(np.zeros((1, self.input_size, self.input_size, 3), dtype=np.float32))
