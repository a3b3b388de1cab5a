"""MTCNN from facenet-pytorch: boxes plus five landmarks; its weights ship in the package."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from analysis.ml.types import Box, DetectedFace, Landmarks, RGBImage

# MTCNN's last stage scores faces in (0, 1); below this, too many animals and textures pass.
MIN_PROBABILITY = 0.9


class MTCNNDetector:
    name = "mtcnn"

    def __init__(self, *, threads: int = 2) -> None:
        from analysis.ml import torchvision_compat

        torchvision_compat.install()
        import torch
        from facenet_pytorch import MTCNN

        torch.set_num_threads(threads)
        self._torch = torch
        self._mtcnn: Any = MTCNN(keep_all=True, post_process=False, device="cpu")
        self._lock = threading.Lock()

    def detect(self, image: RGBImage, *, min_size: int = 20) -> list[DetectedFace]:
        height, width = image.shape[:2]
        # MTCNN's image pyramid starts at min_size; a thinner image has no level at all
        # (facenet-pytorch then fails), and cannot hold a face that size anyway.
        if min(height, width) < min_size:
            return []
        with self._lock, self._torch.inference_mode():
            # Its first pyramid level is the image scaled by 12 / min_size: the larger the
            # smallest face, the smaller (and cheaper) every level.
            self._mtcnn.min_face_size = min_size
            boxes, probs, points = self._mtcnn.detect(image, landmarks=True)
        if boxes is None:
            return []
        faces = []
        for box, prob, marks in zip(boxes, probs, points, strict=True):
            if prob is None or float(prob) < MIN_PROBABILITY:
                continue
            x1, y1 = max(0.0, float(box[0])), max(0.0, float(box[1]))
            x2, y2 = min(float(width), float(box[2])), min(float(height), float(box[3]))
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            pts = [(float(px), float(py)) for px, py in np.asarray(marks)]
            faces.append(
                DetectedFace(
                    box=Box(round(x1), round(y1), round(x2 - x1), round(y2 - y1)),
                    score=float(prob),
                    detector="mtcnn",
                    landmarks=Landmarks(*pts),
                )
            )
        return faces
