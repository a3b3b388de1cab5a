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


@dataclass(frozen=True)
class Patch:
    """The surroundings of one face, shrunk so that the crops warped from it do not alias, and
    where the face is in it (center, crop side and roll)."""

    pixels: Picture
    cx: float
    cy: float
    side: float
    roll: float

    def for_size(self, size: int, *, gray: bool) -> Patch:
        """This patch shrunk further for crops of ``size`` px, in grey if ``gray``."""
        pixels = self.pixels
        if gray and pixels.ndim == 3:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
        shrink = min(1.0, (2 * size) / self.side)
        if shrink < 1.0:
            pixels = _shrink(pixels, shrink)
            shrink = pixels.shape[1] / self.pixels.shape[1]
        return Patch(pixels, self.cx * shrink, self.cy * shrink, self.side * shrink, self.roll)


def patch_reach(roll: float, views: Sequence[View]) -> float:
    """How far from the face's center, in crop sides, the widest of ``views`` sees."""
    reach = 0.5
    for view in views:
        angle = math.radians(roll + view.rotate)
        # A turned square's bounding box, widened by the shift; zoom below 1 shows more.
        half = 0.5 * (abs(math.cos(angle)) + abs(math.sin(angle)))
        reach = max(reach, (half + math.hypot(view.shift_x, view.shift_y)) / view.zoom)
    return reach


def face_patch(
    picture: Picture, face: DetectedFace, size: int, views: Sequence[View] = (View(),)
) -> Patch:
    """The patch around ``face`` from which crops of ``size`` px are warped through ``views``.

    It holds all that the views see (plus a pixel for interpolation), padded with the mean
    colour where that leaves the picture.
    """
    cx, cy, side, roll = face_frame(face)
    reach = side * patch_reach(roll, views) + 1
    x0, y0 = math.floor(cx - reach), math.floor(cy - reach)
    x1, y1 = math.ceil(cx + reach), math.ceil(cy + reach)
    height, width = picture.shape[:2]
    ix0, iy0 = min(max(0, x0), width - 1), min(max(0, y0), height - 1)
    ix1, iy1 = max(min(width, x1), ix0 + 1), max(min(height, y1), iy0 + 1)
    inner = picture[iy0:iy1, ix0:ix1]
    # Shrink a large face once with area averaging (before padding, which then copies less),
    # so that the warps do not alias.
    shrink = min(1.0, (2 * size) / side)
    if shrink < 1.0:
        inner = _shrink(inner, shrink)
    scale_x, scale_y = inner.shape[1] / (ix1 - ix0), inner.shape[0] / (iy1 - iy0)
    left, top = max(0, round((ix0 - x0) * scale_x)), max(0, round((iy0 - y0) * scale_y))
    right, bottom = max(0, round((x1 - ix1) * scale_x)), max(0, round((y1 - iy1) * scale_y))
    pixels = pad_with_mean(np.ascontiguousarray(inner), top, bottom, left, right)
    return Patch(
        pixels=pixels,
        cx=(cx - ix0) * scale_x + left,
        cy=(cy - iy0) * scale_y + top,
        side=side * scale_x,
        roll=roll,
    )


def warp(patch: Patch, views: Sequence[View], size: int) -> npt.NDArray[np.float32]:
    """The face seen through each view, as len(views) x size x size floats in [0, 255]
    (x 3 for a colour patch)."""
    pixels = patch.pixels
    out = np.empty((len(views), size, size, *pixels.shape[2:]), dtype=np.float32)
    for i, view in enumerate(views):
        scale = size * view.zoom / patch.side
        matrix = cv2.getRotationMatrix2D((patch.cx, patch.cy), patch.roll + view.rotate, scale)
        matrix[0, 2] += size / 2 - patch.cx + view.shift_x * size
        matrix[1, 2] += size / 2 - patch.cy + view.shift_y * size
        warped = cv2.warpAffine(
            pixels, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        ).astype(np.float32)
        if view.flip:
            warped = warped[:, ::-1]
        if view.gain != 1.0 or view.bias != 0.0:
            mean = float(warped.mean())
            warped = np.clip((warped - mean) * view.gain + mean + view.bias, 0.0, 255.0)
        out[i] = warped
    return out


def _shrink(pixels: Picture, factor: float) -> Picture:
    height, width = pixels.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def pad_with_mean(pixels: Picture, top: int, bottom: int, left: int, right: int) -> Picture:
    """``pixels`` with borders in its mean colour.

    A flat fill looks like the plain backgrounds of FER2013; repeated edge pixels would draw
    streaks the model never saw in training.
    """
    if not (top or bottom or left or right):
        return pixels
    fill = cv2.mean(pixels)
    return np.asarray(
        cv2.copyMakeBorder(pixels, top, bottom, left, right, cv2.BORDER_CONSTANT, value=fill),
        dtype=np.uint8,
    )
