"""OpenCV's frontal-face Haar cascade: fast, no landmarks, misses turned and tight faces."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from analysis.ml.types import Box, DetectedFace, RGBImage


class HaarDetector:
    name = "haar"

    def __init__(self, *, min_neighbors: int = 5, scale_factor: float = 1.1) -> None:
        cascades = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]
        cascade_path = cascades / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(cascade_path))
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV could not load its Haar cascade from {cascade_path}")
        self._min_neighbors = min_neighbors
        self._scale_factor = scale_factor
        # CascadeClassifier keeps scratch buffers: one call at a time per instance.
        self._lock = threading.Lock()

    def detect(self, image: RGBImage, *, min_size: int = 20) -> list[DetectedFace]:
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        min_side = max(min_size, min(gray.shape) // 20)
        with self._lock:
            boxes, _, weights = self._cascade.detectMultiScale3(
                gray,
                scaleFactor=self._scale_factor,
                minNeighbors=self._min_neighbors,
                minSize=(min_side, min_side),
                outputRejectLevels=True,
            )
        faces = []
        for (x, y, w, h), weight in zip(boxes, np.ravel(weights), strict=False):
            # The cascade's level weight is unbounded; squash it into (0, 1) for display.
            score = float(1.0 / (1.0 + np.exp(-(float(weight) - 2.0))))
            faces.append(
                DetectedFace(box=Box(int(x), int(y), int(w), int(h)), score=score, detector="haar")
            )
        return faces
