"""Turning a detected face into the square crops the emotion models read.

Every crop is one affine warp of the image: the face's center, its size, the roll that levels
the eyes (from the landmarks, where the detector gives them), and the small changes of each
test-time augmentation pass are folded into the same matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from analysis.ml.types import DetectedFace

# The mini-Xception model was trained on FER2013, whose 48x48 faces are framed a little wider
# than a detector's box: the side of our crop is the box's longer side times this.
CROP_SCALE = 1.2
# Roll beyond this is probably a landmark error, not a tilted head: it is not corrected.
MAX_ROLL_DEGREES = 45.0

# A grayscale (H x W) or colour (H x W x 3) picture.
Picture = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class View:
    """One test-time augmentation pass: rotation (degrees), shift (fraction of the crop),
    zoom (above 1 shows less around the face), mirror, and a brightness/contrast change."""

    rotate: float = 0.0
    shift_x: float = 0.0
    shift_y: float = 0.0
    zoom: float = 1.0
    flip: bool = False
    gain: float = 1.0
    bias: float = 0.0


def face_roll(face: DetectedFace) -> float | None:
    """The angle of the eye line in degrees (positive: the right eye is lower), if known."""
    if face.landmarks is None:
        return None
    (lx, ly), (rx, ry) = face.landmarks.left_eye, face.landmarks.right_eye
    if rx - lx <= 0:
        return None
    return math.degrees(math.atan2(ry - ly, rx - lx))


def face_frame(face: DetectedFace) -> tuple[float, float, float, float]:
    """Center x, center y, crop side and roll (degrees) of the face in the image."""
    box = face.box
    cx, cy = box.center
    side = max(box.w, box.h) * CROP_SCALE
    roll = face_roll(face)
    if roll is None or abs(roll) > MAX_ROLL_DEGREES:
        roll = 0.0
    return cx, cy, side, roll


def crops(
    picture: Picture, face: DetectedFace, views: Sequence[View], size: int
) -> npt.NDArray[np.float32]:
    """The face seen through each view, as len(views) x size x size floats in [0, 255]
    (x 3 for a colour picture)."""
    cx, cy, side, roll = face_frame(face)
    # Shrink a large face once with area averaging, so that the warps below do not alias.
    shrink = min(1.0, (2 * size) / side)
    margin = side * 0.9
    x0, y0 = math.floor(cx - margin), math.floor(cy - margin)
    x1, y1 = math.ceil(cx + margin), math.ceil(cy + margin)
    patch = _padded_region(picture, x0, y0, x1, y1)
    if shrink < 1.0:
        patch = cv2.resize(
            patch,
            (max(1, round(patch.shape[1] * shrink)), max(1, round(patch.shape[0] * shrink))),
            interpolation=cv2.INTER_AREA,
        )
    pcx, pcy = (cx - x0) * shrink, (cy - y0) * shrink
    pside = side * shrink

    out = np.empty((len(views), size, size, *picture.shape[2:]), dtype=np.float32)
    for i, view in enumerate(views):
        scale = size * view.zoom / pside
        matrix = cv2.getRotationMatrix2D((pcx, pcy), roll + view.rotate, scale)
        matrix[0, 2] += size / 2 - pcx + view.shift_x * size
        matrix[1, 2] += size / 2 - pcy + view.shift_y * size
        warped = cv2.warpAffine(
            patch, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        ).astype(np.float32)
        if view.flip:
            warped = warped[:, ::-1]
        if view.gain != 1.0 or view.bias != 0.0:
            mean = float(warped.mean())
            warped = np.clip((warped - mean) * view.gain + mean + view.bias, 0.0, 255.0)
        out[i] = warped
    return out


def _padded_region(picture: Picture, x0: int, y0: int, x1: int, y1: int) -> Picture:
    """picture[y0:y1, x0:x1], filled with the region's mean colour where it leaves the image.

    A flat fill looks like the plain backgrounds of FER2013; repeated edge pixels would draw
    streaks the model never saw in training.
    """
    height, width = picture.shape[:2]
    top, left = max(0, -y0), max(0, -x0)
    bottom, right = max(0, y1 - height), max(0, x1 - width)
    inner = picture[max(0, y0) : min(height, y1), max(0, x0) : min(width, x1)]
    if top or left or bottom or right:
        channels = inner.shape[2] if inner.ndim == 3 else 1
        fill = inner.reshape(-1, channels).mean(axis=0) if inner.size else np.full(channels, 128.0)
        inner = cv2.copyMakeBorder(
            inner, top, bottom, left, right, cv2.BORDER_CONSTANT, value=[float(v) for v in fill]
        )
    return np.ascontiguousarray(inner)
