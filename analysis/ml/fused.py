"""The ``auto`` detector: MTCNN and BlazeFace together, each covering what the other misses.

MTCNN's cascade finds small and medium faces with precise landmarks, but misses faces that fill
the frame or are cut by the picture's edge (its windows never see them whole). BlazeFace looks
at the whole picture at once at 192 px: it finds exactly those, and is weak on small faces. So
both run; BlazeFace also runs on the picture framed with a plain border, so that a face cut by
the edge is seen with room around it. Detections of the same face are merged (overlapping
boxes); MTCNN's is kept where both found a face, for its landmarks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from analysis.ml.types import Box, DetectedFace, FaceDetector, RGBImage

if TYPE_CHECKING:
    from analysis.ml.blazeface import BlazeFaceDetector

# BlazeFace also sees the picture inside a border of this share of its longer side.
EDGE_BORDER = 0.25
# Two detections are one face when they overlap this much (intersection over union), or when
# one lies mostly inside the other (the detectors frame faces differently).
SAME_FACE_IOU = 0.3
SAME_FACE_INSIDE = 0.6


class FusedDetector:
    name = "mtcnn+blazeface"

    def __init__(self, mtcnn: FaceDetector, blazeface: BlazeFaceDetector) -> None:
        self.mtcnn = mtcnn
        self.blazeface = blazeface

    def detect(self, image: RGBImage, *, min_size: int = 20) -> list[DetectedFace]:
        found = list(self.mtcnn.detect(image, min_size=min_size))
        found += self.blazeface.detect(image, min_size=min_size)
        found += self.blazeface.detect(image, min_size=min_size, border=EDGE_BORDER)
        return merge(found)


def same_face(a: Box, b: Box) -> bool:
    x1, y1 = max(a.x, b.x), max(a.y, b.y)
    x2, y2 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    if inter == 0:
        return False
    smaller = min(a.w * a.h, b.w * b.h)
    return a.iou(b) >= SAME_FACE_IOU or inter >= SAME_FACE_INSIDE * smaller


def merge(faces: list[DetectedFace]) -> list[DetectedFace]:
    """One detection per face: MTCNN's where it found the face, else the best-scored one."""
    ranked = sorted(faces, key=lambda f: (f.detector != "mtcnn", -f.score))
    kept: list[DetectedFace] = []
    for face in ranked:
        if not any(same_face(face.box, other.box) for other in kept):
            kept.append(face)
    return kept
