"""The whole analysis of one image: detect, align, score through test-time augmentation, judge.

Plain Python: callers pass the models, so tests can hand in fakes that follow the Protocols.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from analysis.ml import quality, tta
from analysis.ml.detection import clip_face, find_faces
from analysis.ml.ensemble import Source
from analysis.ml.images import ImageError
from analysis.ml.types import (
    EMOTIONS,
    Box,
    DetectedFace,
    EmotionScores,
    Enhancer,
    FaceDetector,
    FaceResult,
    FaceScorer,
    ImageResult,
    RGBImage,
)


class UnknownFaces(ImageError):
    """Face numbers were asked for that the picture does not have."""

    code = "validation_error"

    def __init__(self, missing: Sequence[int], found: int) -> None:
        numbers = ", ".join(str(n) for n in missing)
        have = f"numbers 0 to {found - 1}" if found else "no face was found"
        super().__init__(
            f"faces: the picture has no face {numbers}; {found} face(s) were found ({have})."
        )


# A marked face smaller than this (in pixels of the picture) cannot be read.
MIN_MARKED_SIDE = 8


def marked_faces(image: RGBImage, boxes: Sequence[Box]) -> list[DetectedFace]:
    """Faces a person marked by hand, clipped to the picture; raises UnmarkableFace for a box
    that lies outside the picture or is too small."""
    height, width = int(image.shape[0]), int(image.shape[1])
    faces = []
    for box in boxes:
        marked = DetectedFace(box=box, score=1.0, detector="manual", how="manual")
        clipped = clip_face(marked, width, height, min_side=MIN_MARKED_SIDE)
        if clipped is None:
            raise UnmarkableFace(box, width, height)
        faces.append(clipped)
    return faces


class UnmarkableFace(ImageError):
    code = "validation_error"

    def __init__(self, box: Box, width: int, height: int) -> None:
        super().__init__(
            f"boxes: {box.as_list()} does not mark a face of at least {MIN_MARKED_SIDE} pixels "
            f"inside the {width}x{height} picture."
        )


def detect(image: RGBImage, detector: FaceDetector) -> list[DetectedFace]:
    """The faces of ``image``, left to right."""
    return find_faces(image, detector)


def analyse(
    image: RGBImage,
    *,
    detector: FaceDetector,
    classifier: FaceScorer,
    passes: int = 10,
    select: Sequence[int] | None = None,
    enhancer: Enhancer | None = None,
    extra_boxes: Sequence[Box] = (),
    found: Sequence[DetectedFace] | None = None,
) -> ImageResult:
    """Detect and score the faces of ``image``, enlarging each one first with ``enhancer``.

    ``classifier`` scores the faces: an Ensemble of one or more emotion networks.

    ``select`` keeps only the faces with these indices (positions in left-to-right order).
    ``extra_boxes`` are faces a person marked that the detector missed: they are scored like
    the others and numbered after them, so that the detected faces keep their numbers.
    ``found`` are the faces :func:`detect` already gave for this image and detector.
    """
    views = tta.views(passes)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    detected = list(found) if found is not None else find_faces(image, detector)
    faces = detected + marked_faces(image, extra_boxes)
    timings["detect"] = _ms_since(started)
    indexed = list(enumerate(faces))
    if select is not None:
        wanted = set(select)
        missing = sorted(wanted - set(range(len(faces))))
        if missing:
            raise UnknownFaces(missing, len(faces))
        # Faces marked by hand are always wanted: the person just drew them.
        indexed = [(i, face) for i, face in indexed if i in wanted or face.how == "manual"]

    started = time.perf_counter()
    results: list[FaceResult] = []
    if indexed:
        started_enhance = time.perf_counter()
        sources: list[Source] = [
            (image, face) if enhancer is None else enhancer.enhance_face(image, face)
            for _, face in indexed
        ]
        if enhancer is not None:
            timings["enhance"] = _ms_since(started_enhance)
        scores = classifier.score(sources, views)
        for (index, face), per_pass in zip(indexed, scores, strict=True):
            results.append(judged(image, index, face, summarise(per_pass)))
    timings["classify"] = round(_ms_since(started) - timings.get("enhance", 0.0), 1)

    notes = []
    analysed = [face for _, face in indexed]
    if any(face.how == "whole_image" for face in analysed):
        notes.append(
            "No face was detected; the picture looks like a single face crop, so it was "
            "analysed whole."
        )
    elif any(face.how == "framed" for face in analysed):
        notes.append("The face fills the picture; it was found after framing the picture.")
    if any(face.how == "manual" for face in analysed):
        notes.append("Faces you marked by hand are scored as they are, without alignment.")
    return ImageResult(
        width=int(image.shape[1]),
        height=int(image.shape[0]),
        detector=detector.name,
        passes=len(views),
        faces=tuple(results),
        notes=tuple(notes),
        timings_ms=timings,
        models={
            "detector": detector.name,
            "emotion": classifier.name,
            **({"enhancer": enhancer.name} if enhancer else {}),
        },
    )


def judged(image: RGBImage, index: int, face: DetectedFace, emotions: EmotionScores) -> FaceResult:
    """A scored face with the verdict on whether it could be read well."""
    return FaceResult(
        index=index, face=face, emotions=emotions, quality=quality.assess(image, face, emotions)
    )


def summarise(per_pass: npt.NDArray[np.floating]) -> EmotionScores:
    """Average one face's passes (passes x 7) into probabilities with their spread."""
    adjusted = per_pass.astype(np.float64)
    adjusted /= adjusted.sum(axis=1, keepdims=True)
    mean = adjusted.mean(axis=0)
    mean /= mean.sum()
    spread = adjusted.std(axis=0)
    dominant = int(mean.argmax())
    agreement = float((adjusted.argmax(axis=1) == dominant).mean())
    return EmotionScores(
        probabilities={name: round(float(p), 4) for name, p in zip(EMOTIONS, mean, strict=True)},
        spread={name: round(float(s), 4) for name, s in zip(EMOTIONS, spread, strict=True)},
        passes=int(per_pass.shape[0]),
        agreement=round(agreement, 3),
    )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
