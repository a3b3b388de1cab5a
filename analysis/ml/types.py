"""Values passed between the parts of the pipeline: frozen dataclasses and role Protocols."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

# The order of the API and of every array of scores in this package.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")

RGBImage = npt.NDArray[np.uint8]
Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels of the upright image: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def center(self) -> Point:
        return (self.x + self.w / 2, self.y + self.h / 2)

    @property
    def area(self) -> int:
        return self.w * self.h

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]

    def clipped(self, width: int, height: int) -> Box:
        """The part of the box inside a ``width`` x ``height`` picture (empty when none is)."""
        x1, y1 = max(0, self.x), max(0, self.y)
        x2, y2 = min(width, self.x + self.w), min(height, self.y + self.h)
        return Box(x1, y1, max(0, x2 - x1), max(0, y2 - y1))

    def iou(self, other: Box) -> float:
        left, top = max(self.x, other.x), max(self.y, other.y)
        right = min(self.x + self.w, other.x + other.w)
        bottom = min(self.y + self.h, other.y + other.h)
        inter = max(0, right - left) * max(0, bottom - top)
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union else 0.0


@dataclass(frozen=True)
class Landmarks:
    """The five MTCNN landmarks, in pixels: the eyes as seen in the image, nose, mouth corners."""

    left_eye: Point
    right_eye: Point
    nose: Point
    mouth_left: Point
    mouth_right: Point

    @property
    def points(self) -> tuple[Point, Point, Point, Point, Point]:
        return (self.left_eye, self.right_eye, self.nose, self.mouth_left, self.mouth_right)

    def as_list(self) -> list[list[float]]:
        return [[round(x, 1), round(y, 1)] for x, y in self.points]

    def mapped(self, move: Callable[[Point], Point]) -> Landmarks:
        """The same landmarks with ``move`` applied to each point (to another picture)."""
        return Landmarks(*(move(point) for point in self.points))


@dataclass(frozen=True)
class DetectedFace:
    """A face found by a detector. ``how`` tells how it was found (see detection.find_faces)."""

    box: Box
    score: float
    detector: str
    landmarks: Landmarks | None = None
    how: str = "detected"


def largest(faces: Sequence[DetectedFace]) -> DetectedFace:
    """The face with the largest box (the first of equals); ``faces`` must not be empty."""
    return max(faces, key=lambda face: face.box.area)


@dataclass(frozen=True)
class EmotionScores:
    """Probabilities of the 7 emotions averaged over the passes, with their spread."""

    probabilities: dict[str, float]
    spread: dict[str, float]
    passes: int
    agreement: float

    @property
    def dominant(self) -> str:
        return max(self.probabilities, key=self.probabilities.__getitem__)

    @property
    def confidence(self) -> float:
        return self.probabilities[self.dominant]


@dataclass(frozen=True)
class Quality:
    """Whether a face can be read well, and if not, why."""

    verdict: str  # "reliable" or "uncertain"
    reasons: tuple[str, ...]
    face_size: int
    sharpness: float
    yaw: float | None
    roll: float | None


@dataclass(frozen=True)
class FaceResult:
    index: int
    face: DetectedFace
    emotions: EmotionScores
    quality: Quality


@dataclass(frozen=True)
class ImageResult:
    width: int
    height: int
    detector: str
    passes: int
    faces: tuple[FaceResult, ...]
    notes: tuple[str, ...] = ()
    # Read-only views: the result is frozen, its mappings too.
    timings_ms: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    models: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "timings_ms", MappingProxyType(dict(self.timings_ms)))
        object.__setattr__(self, "models", MappingProxyType(dict(self.models)))

    def with_timing(self, name: str, millis: float) -> ImageResult:
        """A copy with one more timing (the result itself stays as it was built)."""
        return replace(self, timings_ms={**self.timings_ms, name: millis})


class FaceScorer(Protocol):
    """Scores faces through test-time views: what the pipeline asks of its emotion model.

    analysis.ml.ensemble.Ensemble is the one implementation: it averages one or more
    EmotionClassifiers (a single network is an ensemble of one).
    """

    name: str

    def score(
        self, sources: Sequence[tuple[RGBImage, DetectedFace]], views: Sequence[Any]
    ) -> npt.NDArray[np.float64]:
        """Probabilities of every face through every view: faces x views x 7."""
        ...


class FaceDetector(Protocol):
    """Finds faces in an RGB image."""

    name: str

    def detect(self, image: RGBImage, *, min_size: int = 20) -> list[DetectedFace]:
        """The faces of ``image`` whose side is at least ``min_size`` px."""


StepCallback = Callable[[int, int], None]
"""Told ``(done, total)`` after each step of a long model call; may raise to stop it."""


class Enhancer(Protocol):
    """Makes a face larger or cleaner before it is scored."""

    name: str

    def enhance_face(
        self, image: RGBImage, face: DetectedFace, *, on_step: StepCallback | None = None
    ) -> tuple[RGBImage, DetectedFace]:
        """A picture of the enhanced face, and where the face is in that picture."""


class EmotionClassifier(Protocol):
    """Scores a batch of aligned faces: N x S x S greys (``channels`` 1) or N x S x S x 3 RGB
    (``channels`` 3), values in [0, 255].

    Returns N x 7 probabilities in the order of EMOTIONS, with any known bias of the training
    data's class frequencies already corrected.
    """

    name: str
    input_size: int
    channels: int

    def predict(self, faces: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...

    def warm_up(self) -> None:
        """Do the one-time work (graph compilation) now rather than on the first request."""
