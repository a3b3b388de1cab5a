"""Shared geometry for face enhancers: the region around a face, and faces moved into the
picture an enhancer returns."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from analysis.ml.alignment import pad_with_mean
from analysis.ml.types import Box, DetectedFace, Landmarks, Point, RGBImage

# The region around a face that an enhancer works on: wide enough for alignment's crop and for
# every test-time view (see alignment.face_patch), in multiples of the box's longer side.
REGION = 2.2


def face_region(image: RGBImage, face: DetectedFace) -> tuple[RGBImage, int, int]:
    """The square region around ``face`` (padded with its mean colour past the picture's
    edges), and the position of its top-left corner in ``image``."""
    cx, cy = face.box.center
    half = max(face.box.w, face.box.h) * REGION / 2
    x0, y0 = round(cx - half), round(cy - half)
    x1, y1 = round(cx + half), round(cy + half)
    height, width = image.shape[:2]
    region = image[max(0, y0) : min(height, y1), max(0, x0) : min(width, x1)]
    region = pad_with_mean(
        np.ascontiguousarray(region),
        max(0, -y0),
        max(0, y1 - height),
        max(0, -x0),
        max(0, x1 - width),
    )
    return np.ascontiguousarray(region), x0, y0


def face_moved(face: DetectedFace, move: Callable[[Point], Point]) -> DetectedFace:
    """``face`` in another picture: its box's corners and its landmarks moved by ``move``."""
    box = face.box
    corners = np.array(
        [
            move(p)
            for p in (
                (box.x, box.y),
                (box.x + box.w, box.y),
                (box.x, box.y + box.h),
                (box.x + box.w, box.y + box.h),
            )
        ]
    )
    left, top = corners.min(axis=0)
    right, bottom = corners.max(axis=0)
    return DetectedFace(
        box=Box(round(left), round(top), round(right - left), round(bottom - top)),
        score=face.score,
        detector=face.detector,
        landmarks=face.landmarks.mapped(move) if face.landmarks else None,
        how=face.how,
    )


def estimated_landmarks(box: Box) -> Landmarks:
    """Where the five landmarks usually sit in a frontal face's box, for detectors that give
    none (the Haar cascade)."""

    def at(fx: float, fy: float) -> Point:
        return (box.x + fx * box.w, box.y + fy * box.h)

    return Landmarks(at(0.31, 0.38), at(0.69, 0.38), at(0.5, 0.55), at(0.35, 0.76), at(0.65, 0.76))
