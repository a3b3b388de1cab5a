"""Stand-ins that follow the ML Protocols, for tests that are about the code around the models."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.ml.ensemble import Ensemble
from analysis.ml.types import EMOTIONS, Box, DetectedFace, RGBImage


class FakeDetector:
    """Reports the given boxes (in the coordinates of the image it is shown), or, when
    ``only_if_framed`` is set, a face only once the picture has been framed with a border."""

    name = "fake"

    def __init__(self, boxes: list[Box] | None = None, *, only_if_framed: bool = False) -> None:
        self.boxes = boxes or []
        self.only_if_framed = only_if_framed
        self.calls: list[tuple[int, int]] = []
        self.min_sizes: list[int] = []

    def detect(self, image: RGBImage, *, min_size: int = 20) -> list[DetectedFace]:
        height, width = image.shape[:2]
        self.calls.append((width, height))
        self.min_sizes.append(min_size)
        if self.only_if_framed:
            if len(self.calls) == 1:
                return []
            # The face fills the middle of the framed picture.
            return [
                DetectedFace(Box(width // 4, height // 4, width // 2, height // 2), 0.99, "fake")
            ]
        return [DetectedFace(box, 0.99, "fake") for box in self.boxes]


class FakeClassifier:
    """Scores every crop with fixed probabilities; with ``alternating``, one crop happy and the
    next sad, so that the passes over a face disagree."""

    name = "fake-classifier"
    input_size = 64
    channels = 1

    def __init__(
        self, probabilities: dict[str, float] | None = None, *, alternating: bool = False
    ) -> None:
        self.probabilities = probabilities or {
            "angry": 0.1,
            "disgust": 0.02,
            "fear": 0.08,
            "happy": 0.5,
            "neutral": 0.2,
            "sad": 0.05,
            "surprise": 0.05,
        }
        self.alternating = alternating
        self.batches: list[int] = []
        self.shapes: list[tuple[int, ...]] = []

    def predict(self, faces: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        self.batches.append(len(faces))
        self.shapes.append(faces.shape)
        row = np.array([self.probabilities[e] for e in EMOTIONS], dtype=np.float32)
        scores = np.tile(row, (len(faces), 1))
        if self.alternating:
            scores[1::2] = np.roll(scores[1::2], 2, axis=1)
        return scores

    def warm_up(self) -> None:
        self.batches.append(0)


def fake_scorer(*args: Any, **kwargs: Any) -> Ensemble:
    """What the pipeline takes, as the loader gives it: an ensemble, here of one fake network."""
    return Ensemble([FakeClassifier(*args, **kwargs)])


class FakeQuickDetector(FakeDetector):
    """A stand-in for BlazeFace on the camera's quick path: the same boxes with or without
    its border, and ``mirrored`` besides when the frame is mirrored at its edges; ``boxes``
    may be changed between frames."""

    name = "fake-quick"

    def __init__(self, boxes: list[Box] | None = None, mirrored: list[Box] | None = None) -> None:
        super().__init__(boxes)
        self.mirrored = mirrored or []
        self.borders: list[tuple[float, bool]] = []

    def detect(
        self, image: RGBImage, *, min_size: int = 20, border: float = 0.0, mirror: bool = False
    ) -> list[DetectedFace]:
        self.borders.append((border, mirror))
        found = super().detect(image, min_size=min_size)
        return found + [DetectedFace(box, 0.9, self.name) for box in self.mirrored if mirror]
