"""The ``auto`` detector: MTCNN and BlazeFace together, each covering what the other misses.

MTCNN's cascade finds small and medium faces with precise landmarks, but misses faces that fill
the frame or are cut by the picture's edge (its windows never see them whole). BlazeFace looks
at the whole picture at once at 192 px: it finds exactly those, and is weak on small faces. So
both run; BlazeFace also runs on the picture framed with a plain border, so that a face cut by
the edge is seen with room around it. Detections of the same face are merged (overlapping
boxes); MTCNN's is kept where both found a face, for its landmarks. Two more of BlazeFace's
looks only add faces the others missed: the picture mirrored at its left and right edges (a
face cut by one of them is then nearly whole), and square tiles of a wide or tall picture
(each at the full 192 px that the letterboxed whole picture only partly uses). On the group
photos cut by benchmarks/detection.py they found two neighbours cut by two edges at once, which
no other look found.

MTCNN's own threshold (0.9) is a compromise: small faces in group photos score under it (a
37 px face among five others, 0.76), and clutter in an enlarged crop over it (twigs and a bauble,
0.93). So a face MTCNN is not quite sure of is kept only when BlazeFace, shown the face enlarged
with room around it, sees a face there too: two detectors of different kinds rarely make the
same mistake.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from analysis.ml.blazeface import INPUT_SIDE
from analysis.ml.blazeface import MIN_SCORE as BLAZEFACE_MIN_SCORE
from analysis.ml.mtcnn import STAGE_THRESHOLDS
from analysis.ml.types import Box, DetectedFace, Point, RGBImage

if TYPE_CHECKING:
    from analysis.ml.blazeface import BlazeFaceDetector
    from analysis.ml.mtcnn import MTCNNDetector

# BlazeFace also sees the picture inside a border of this share of its longer side.
EDGE_BORDER = 0.25
# Two detections are one face when they overlap this much (intersection over union), or when
# one lies mostly inside the other (the detectors frame faces differently).
SAME_FACE_IOU = 0.3
SAME_FACE_INSIDE = 0.6
# MTCNN alone decides on a face it scores at least SURE_PROBABILITY. From its last stage's own
# threshold up to that, a face is kept only when BlazeFace confirms it, scoring at least
# CONFIRM_SCORE, on a window CONFIRM_WINDOW times the face's side around it, scaled to
# BlazeFace's input. Confirming means finding the same face: the two boxes overlap by
# SAME_FACE_IOU once clipped to the picture (BlazeFace boxes a face cut by the edge whole, past
# the edge, where MTCNN's box stops at it). A face merely around MTCNN's box does not confirm
# it: MTCNN also scores parts of a face (a nose and mouth, 0.93), which lie inside the face.
# On benchmarks/detection.py's pictures and the other test photos, MTCNN's false faces scored
# 0.78-0.93, and BlazeFace answered at most 0.50 on their windows (a bare wall at the
# picture's edge), where its own threshold is 0.5: so a confirmation asks for more. The true
# faces MTCNN scored under 0.99 were confirmed at 0.52-0.81 (the 37 px face of a group photo:
# 0.76); those under CONFIRM_SCORE, and two cut by the bottom edge that it did not confirm,
# BlazeFace finds by itself on the whole picture.
SURE_PROBABILITY = 0.95
UNSURE_PROBABILITY = STAGE_THRESHOLDS[-1]
CONFIRM_SCORE = 0.6
CONFIRM_WINDOW = 3.0
# Each confirmation is one BlazeFace run (a few ms): at most this many per picture, the best
# scored first, so that a busy picture (foliage, a crowd far away) costs a bounded time.
MAX_UNSURE = 16
# A picture at least this much longer than wide (or wider than long) is also read in square
# tiles, spread evenly along it, each sharing at least TILE_OVERLAP of its side with the next
# (a face on the seam is then whole in one of them unless it is larger than that share), at
# most MAX_TILES of them: they overlap by that share up to 3.4 times longer than wide, by less
# up to 4 times, and leave gaps beyond (which the whole-picture looks still cover).
TILE_ASPECT = 1.5
TILE_OVERLAP = 0.2
MAX_TILES = 4


class FusedDetector:
    name = "mtcnn+blazeface"

    def __init__(self, mtcnn: MTCNNDetector, blazeface: BlazeFaceDetector) -> None:
        self.mtcnn = mtcnn
        self.blazeface = blazeface

    def detect(self, image: RGBImage, *, min_size: int = 20) -> list[DetectedFace]:
        candidates = self.mtcnn.detect(image, min_size=min_size, min_probability=UNSURE_PROBABILITY)
        found = [face for face in candidates if face.score >= SURE_PROBABILITY]
        unsure = sorted(
            (face for face in candidates if face.score < SURE_PROBABILITY),
            key=lambda face: -face.score,
        )
        found += [face for face in unsure[:MAX_UNSURE] if self.confirmed(image, face.box)]
        found += self.blazeface.detect(image, min_size=min_size)
        found += self.blazeface.detect(image, min_size=min_size, border=EDGE_BORDER)
        # Two more of BlazeFace's looks, for faces the ones above miss; their boxes are
        # rougher (a reflection completes the face, a tile cuts it), so they only add faces.
        more = self.blazeface.detect(image, min_size=min_size, border=EDGE_BORDER, mirror=True)
        more += self.tiled(image, min_size=min_size)
        height, width = image.shape[:2]
        return added(merge(found), more, width, height)

    def tiled(self, image: RGBImage, *, min_size: int) -> list[DetectedFace]:
        """BlazeFace on square tiles of a wide or tall picture, each at its full 192 px (the
        whole picture, letterboxed, uses only part of them: a 16:9 frame a bit over half)."""
        height, width = image.shape[:2]
        short, long = min(height, width), max(height, width)
        if long < TILE_ASPECT * short:
            return []
        count = min(MAX_TILES, 1 + math.ceil((long - short) / ((1 - TILE_OVERLAP) * short)))
        faces = []
        for start in np.linspace(0, long - short, count).round().astype(int):
            x0, y0 = (int(start), 0) if width > height else (0, int(start))
            tile = image[y0 : y0 + short, x0 : x0 + short]
            for found in self.blazeface.detect(tile, min_size=min_size):
                face = _placed(found, x0, y0)
                # A tile's inner edge is not the picture's: a face that BlazeFace is unsure
                # of is kept only when it is cut by the picture's own edge (blazeface.py).
                cut = face.box.clipped(width, height) != face.box
                if face.score >= BLAZEFACE_MIN_SCORE or cut:
                    faces.append(face)
        return faces

    def confirmed(self, image: RGBImage, box: Box) -> bool:
        """Whether BlazeFace finds the face in ``box`` on a window around it."""
        height, width = image.shape[:2]
        reach = CONFIRM_WINDOW * max(box.w, box.h) / 2
        centre_x, centre_y = box.x + box.w / 2, box.y + box.h / 2
        x0, y0 = int(max(0, centre_x - reach)), int(max(0, centre_y - reach))
        x1, y1 = int(min(width, centre_x + reach)), int(min(height, centre_y + reach))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return False
        window = image[y0:y1, x0:x1]
        # Small faces, the usual case, are enlarged here (cubic, sharper than the area resize
        # BlazeFace shrinks a larger window with by itself).
        zoom = max(1.0, INPUT_SIDE / max(x1 - x0, y1 - y0))
        if zoom > 1:
            window = cv2.resize(window, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
        inside = box.clipped(width, height)
        for face in self.blazeface.detect(window):
            found = _placed(face, x0, y0, zoom).box.clipped(width, height)
            if face.score >= CONFIRM_SCORE and found.iou(inside) >= SAME_FACE_IOU:
                return True
        return False


def _placed(face: DetectedFace, x0: int, y0: int, zoom: float = 1.0) -> DetectedFace:
    """``face``, found in a part of a picture that starts at (x0, y0) and was enlarged
    ``zoom`` times, in the picture's own pixels."""

    def move(point: Point) -> Point:
        return (point[0] / zoom + x0, point[1] / zoom + y0)

    old = face.box
    box = Box(
        round(old.x / zoom + x0), round(old.y / zoom + y0), round(old.w / zoom), round(old.h / zoom)
    )
    return replace(face, box=box, landmarks=face.landmarks.mapped(move) if face.landmarks else None)


def same_face(a: Box, b: Box) -> bool:
    x1, y1 = max(a.x, b.x), max(a.y, b.y)
    x2, y2 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    if inter == 0:
        return False
    smaller = min(a.w * a.h, b.w * b.h)
    return a.iou(b) >= SAME_FACE_IOU or inter >= SAME_FACE_INSIDE * smaller


def added(
    kept: list[DetectedFace], more: list[DetectedFace], width: int, height: int
) -> list[DetectedFace]:
    """``kept``, then each face of ``more`` (best first) that is none of the faces so far, in a
    ``width`` x ``height`` picture. Faces are compared by their parts inside the picture: a cut
    face's box reaches past the edge by as much as one detector guesses."""
    faces = list(kept)
    seen = [face.box.clipped(width, height) for face in faces]
    for face in sorted(more, key=lambda f: -f.score):
        inside = face.box.clipped(width, height)
        if not any(same_face(inside, box) for box in seen):
            faces.append(face)
            seen.append(inside)
    return faces


def merge(faces: list[DetectedFace]) -> list[DetectedFace]:
    """One detection per face: MTCNN's where it found the face, else the best-scored one."""
    ranked = sorted(faces, key=lambda f: (f.detector != "mtcnn", -f.score))
    kept: list[DetectedFace] = []
    for face in ranked:
        if not any(same_face(face.box, other.box) for other in kept):
            kept.append(face)
    return kept
