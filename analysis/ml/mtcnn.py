"""MTCNN: boxes plus five landmarks. The three networks and their weights are facenet-pytorch's
(they ship in the package); the cascade that drives them is ours.

facenet-pytorch's own driver resamples every pyramid level and every candidate window with
torch's ``interpolate(mode="area")``, one call per window, and its networks' pooling runs on
tensors laid out channel by channel; on a CPU that was two thirds of its time. Here the pyramid
and the windows are resampled with OpenCV's area interpolation on one normalised copy of the
picture, the windows of a stage go through their network as one batch, and the networks run on
channels-last tensors. The cascade is the reference one (the same thresholds, pyramid step,
box regression, squaring and non-maximum suppression), so it finds the same faces but for the
resampling: boxes move by a few pixels on small faces, whose windows are enlarged (OpenCV then
interpolates linearly where torch repeats cells), and a face at the edge of a stage's threshold
can be kept by one and not the other.
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from analysis.ml.types import Box, DetectedFace, Landmarks, RGBImage

# MTCNN's last stage scores faces in (0, 1); below this, too many animals and textures pass.
MIN_PROBABILITY = 0.9
# The reference cascade's settings: each stage's threshold on its face probability, and the
# step between pyramid levels (each level is the last scaled by this).
STAGE_THRESHOLDS = (0.6, 0.7, 0.7)
PYRAMID_STEP = 0.709
# P-Net looks at 12x12 windows every 2 pixels of a pyramid level.
WINDOW, STRIDE = 12, 2
# R-Net and O-Net read their candidates in batches of at most this many, so that a busy picture
# (thousands of candidates) does not take hundreds of MB at once.
BATCH = 256

Boxes = npt.NDArray[np.float32]


class MTCNNDetector:
    name = "mtcnn"

    def __init__(self, *, threads: int = 2) -> None:
        from analysis.ml import torchvision_compat

        torchvision_compat.install()
        import torch
        from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

        torch.set_num_threads(threads)
        self._torch = torch
        self._pnet: Any = PNet().eval()
        self._rnet: Any = RNet().eval()
        self._onet: Any = ONet().eval()
        self._lock = threading.Lock()

    def detect(
        self, image: RGBImage, *, min_size: int = 20, min_probability: float = MIN_PROBABILITY
    ) -> list[DetectedFace]:
        """Faces the last stage scores at least ``min_probability``; below MIN_PROBABILITY, only
        for a caller that checks them another way (the cascade itself stops at its last stage's
        threshold)."""
        height, width = image.shape[:2]
        # The pyramid starts at min_size: a thinner image has no level at all, and cannot
        # hold a face that size anyway.
        if min(height, width) < min_size:
            return []
        with self._lock, self._torch.inference_mode():
            boxes, points = self._cascade(image, min_size)
        faces = []
        for box, marks in zip(boxes, points, strict=True):
            if float(box[4]) < min_probability:
                continue
            x1, y1 = max(0.0, float(box[0])), max(0.0, float(box[1]))
            x2, y2 = min(float(width), float(box[2])), min(float(height), float(box[3]))
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            faces.append(
                DetectedFace(
                    box=Box(round(x1), round(y1), round(x2 - x1), round(y2 - y1)),
                    score=float(box[4]),
                    detector="mtcnn",
                    landmarks=Landmarks(*[(float(px), float(py)) for px, py in marks]),
                )
            )
        return faces

    def _run(self, network: Any, batch: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        """``network`` on N x H x W x 3 pixels, BATCH at a time; its outputs as arrays."""
        torch = self._torch
        parts = []
        for start in range(0, len(batch), BATCH):
            # A channels-last view: the networks' pooling is fastest on that layout.
            tensor = torch.from_numpy(batch[start : start + BATCH]).permute(0, 3, 1, 2)
            parts.append([output.numpy() for output in network(tensor)])
        return [np.concatenate(outputs) for outputs in zip(*parts, strict=True)]

    def _cascade(self, image: RGBImage, min_size: int) -> tuple[Boxes, Boxes]:
        """Faces as rows of (x1, y1, x2, y2, probability), and their five landmarks (N x 5 x 2),
        in the picture's pixels."""
        height, width = image.shape[:2]
        pixels = (image.astype(np.float32) - 127.5) * (1 / 128)
        none = np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)

        # Stage 1: P-Net over the pyramid, each level 12 / min_size of the picture and down.
        found = []
        scale = WINDOW / min_size
        side = min(height, width) * scale
        while side >= WINDOW:
            size = (int(width * scale + 1), int(height * scale + 1))
            level = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
            regression, probability = self._run(self._pnet, level[None])
            windows = _windows(regression[0], probability[0, 1], scale, STAGE_THRESHOLDS[0])
            found.append(windows[_suppress(windows, 0.5)])
            scale, side = scale * PYRAMID_STEP, side * PYRAMID_STEP
        windows = np.concatenate(found) if found else np.zeros((0, 9), np.float32)
        windows = windows[_suppress(windows, 0.7)]
        if not len(windows):
            return none
        sides = windows[:, 2:4] - windows[:, 0:2]
        boxes = np.column_stack(
            [windows[:, 0:2] + windows[:, 5:7] * sides, windows[:, 2:4] + windows[:, 7:9] * sides]
        )
        boxes = _squared(np.column_stack([boxes, windows[:, 4]]))

        # Stage 2: R-Net on each candidate at 24x24.
        crops, boxes = _crops(pixels, boxes, 24)
        if not len(boxes):
            return none
        regression, probability = self._run(self._rnet, crops)
        keep = probability[:, 1] > STAGE_THRESHOLDS[1]
        boxes = np.column_stack([boxes[keep, :4], probability[keep, 1]])
        regression = regression[keep]
        kept = _suppress(boxes, 0.7)
        boxes = _squared(_regressed(boxes[kept], regression[kept]))

        # Stage 3: O-Net at 48x48, which also places the landmarks.
        crops, boxes = _crops(pixels, boxes, 48)
        if not len(boxes):
            return none
        regression, marks, probability = self._run(self._onet, crops)
        keep = probability[:, 1] > STAGE_THRESHOLDS[2]
        boxes = np.column_stack([boxes[keep, :4], probability[keep, 1]])
        regression, marks = regression[keep], marks[keep]
        sides = boxes[:, 2:4] - boxes[:, 0:2] + 1
        points = np.stack(
            [
                sides[:, 0:1] * marks[:, 0:5] + boxes[:, 0:1] - 1,
                sides[:, 1:2] * marks[:, 5:10] + boxes[:, 1:2] - 1,
            ],
            axis=2,
        )
        boxes = _regressed(boxes, regression)
        kept = _suppress(boxes, 0.7, by_smaller=True)
        return boxes[kept].astype(np.float32), points[kept].astype(np.float32)


def _windows(
    regression: npt.NDArray[np.float32],
    probability: npt.NDArray[np.float32],
    scale: float,
    threshold: float,
) -> Boxes:
    """P-Net's windows scoring at least ``threshold`` on one pyramid level, as rows of
    (x1, y1, x2, y2, score, 4 regression offsets) in the picture's pixels."""
    ys, xs = np.nonzero(probability >= threshold)
    cells = STRIDE * np.column_stack([xs, ys]).astype(np.float32)
    start = np.floor((cells + 1) / np.float32(scale))
    end = np.floor((cells + WINDOW) / np.float32(scale))
    return np.column_stack([start, end, probability[ys, xs], regression[:, ys, xs].T]).astype(
        np.float32
    )


def _suppress(boxes: Boxes, overlap: float, *, by_smaller: bool = False) -> npt.NDArray[np.intp]:
    """Non-maximum suppression: the rows of ``boxes`` (x1, y1, x2, y2, score, ...) to keep, best
    first. A box goes when its intersection with a better one exceeds ``overlap`` of their
    union (or, ``by_smaller``, of the smaller of the two)."""
    order = np.argsort(-boxes[:, 4], kind="stable")
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    keep = []
    while len(order):
        best, rest = order[0], order[1:]
        keep.append(best)
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        height = np.maximum(
            0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1
        )
        inter = width * height
        base = (
            np.minimum(areas[best], areas[rest])
            if by_smaller
            else areas[best] + areas[rest] - inter
        )
        # A box the regression turned inside out has no area: 0 / 0, and it goes.
        with np.errstate(invalid="ignore", divide="ignore"):
            order = rest[inter / base <= overlap]
    return np.asarray(keep, dtype=np.intp)


def _regressed(boxes: Boxes, regression: Boxes) -> Boxes:
    """Boxes moved by a network's regression offsets (shares of their width and height)."""
    sides = boxes[:, 2:4] - boxes[:, 0:2] + 1
    moved = boxes.copy()
    moved[:, 0:2] += regression[:, 0:2] * sides
    moved[:, 2:4] += regression[:, 2:4] * sides
    return moved


def _squared(boxes: Boxes) -> Boxes:
    """Boxes made square around their centre, on their longer side."""
    sides = boxes[:, 2:4] - boxes[:, 0:2]
    longer = sides.max(axis=1, keepdims=True)
    squared = boxes.copy()
    squared[:, 0:2] = boxes[:, 0:2] + sides * 0.5 - longer * 0.5
    squared[:, 2:4] = squared[:, 0:2] + longer
    return squared


def _crops(pixels: npt.NDArray[np.float32], boxes: Boxes, size: int) -> tuple[Boxes, Boxes]:
    """Each box's part of the picture (the part inside it), resampled to ``size`` square;
    and the boxes that have such a part, in the same order."""
    height, width = pixels.shape[:2]
    corners = np.trunc(boxes[:, :4]).astype(np.int64)
    x1 = np.maximum(corners[:, 0], 1) - 1
    y1 = np.maximum(corners[:, 1], 1) - 1
    x2 = np.minimum(corners[:, 2], width)
    y2 = np.minimum(corners[:, 3], height)
    inside = (x2 > x1) & (y2 > y1)
    crops = np.empty((int(inside.sum()), size, size, 3), np.float32)
    for row, index in enumerate(np.flatnonzero(inside)):
        part = pixels[y1[index] : y2[index], x1[index] : x2[index]]
        crops[row] = cv2.resize(part, (size, size), interpolation=cv2.INTER_AREA)
    return crops, boxes[inside]
