"""Detection on real group photos and on crops of them that users find hard: faces cut by the
picture's edge, and close-ups where a face fills the frame. Recall and false faces against the
hand-drawn boxes, for plain fer (Haar, MTCNN) and each of our detectors, in the same run.

The hard cases are made from ../shared/testdata/groups (4 photos, 18 faces with hand-drawn
boxes): for each face, a window of the photo around it cut so that the left or the bottom edge
passes through the face (40% of it outside), scaled so that the face is about 160 px wide, as
close to the camera; and a square around it 1.4 times its size, scaled to 640 px. Neighbours
that a cut leaves mostly outside are not counted; the scenes with no face count false faces.

Usage: .venv/bin/python -m benchmarks.detection
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from benchmarks.peers import SHARED, fer_faces, plain_fer

# A detection matches a hand-drawn box when they overlap this much (the boxes are tight; the
# detectors' include more forehead and chin).
MATCH_IOU = 0.3
# A face cut by an edge is counted when this share of its box is still in the picture.
VISIBLE_SHARE = 0.5
Box = tuple[float, float, float, float]


@dataclass
class Case:
    name: str
    pixels: np.ndarray
    faces: list[Box]


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


def _crop(
    pixels: np.ndarray, faces: list[Box], window: tuple[int, int, int, int]
) -> tuple[np.ndarray, list[Box]]:
    x0, y0, x1, y1 = window
    kept = []
    for x, y, w, h in faces:
        cx0, cy0 = max(x, x0), max(y, y0)
        cx1, cy1 = min(x + w, x1), min(y + h, y1)
        if cx1 <= cx0 or cy1 <= cy0 or (cx1 - cx0) * (cy1 - cy0) < VISIBLE_SHARE * w * h:
            continue
        kept.append((cx0 - x0, cy0 - y0, cx1 - cx0, cy1 - cy0))
    return np.ascontiguousarray(pixels[y0:y1, x0:x1]), kept


def cases() -> Iterator[Case]:
    from analysis.ml.images import decode_image

    boxes = json.loads((SHARED / "groups" / "boxes.json").read_text())
    for name, drawn in sorted(boxes.items()):
        pixels = decode_image((SHARED / "groups" / name).read_bytes()).pixels
        faces: list[Box] = [tuple(map(float, box)) for box in drawn]  # type: ignore[misc]
        height, width = pixels.shape[:2]
        yield Case(f"{name} whole", pixels, faces)
        for i, (x, y, w, h) in enumerate(faces):
            # A window of the photo around the face, four faces wide, cut through the face
            # by its left or bottom edge, then scaled so that the face is as large as in a
            # selfie (about 160 px across): as faces close to the camera are.
            reach = 2 * max(w, h)
            region = (
                int(max(0, x + w / 2 - reach)),
                int(max(0, y + h / 2 - reach)),
                int(min(width, x + w / 2 + reach)),
                int(min(height, y + h / 2 + reach)),
            )
            cuts = {
                "cut by the left edge": (int(x + 0.4 * w), *region[1:]),
                "cut by the bottom edge": (*region[:3], int(y + 0.6 * h)),
            }
            side = 1.4 * max(w, h)
            x0, y0 = int(max(0, x + w / 2 - side / 2)), int(max(0, y + h / 2 - side / 2))
            cuts["close-up"] = (x0, y0, int(min(width, x0 + side)), int(min(height, y0 + side)))
            for kind, (x0, y0, x1, y1) in cuts.items():
                image, kept = _crop(pixels, faces, (x0, y0, x1, y1))
                scale = (640 / max(image.shape[:2])) if kind == "close-up" else 160 / w
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
                kept = [tuple(v * scale for v in box) for box in kept]
                yield Case(f"{name} face {i} {kind}", np.ascontiguousarray(image), kept)
    for name in ("no_face_coffee.jpg", "cat_chelsea.jpg"):
        pixels = decode_image((SHARED / "scenes" / name).read_bytes()).pixels
        yield Case(f"{name} (no face)", pixels, [])


def score(find: Callable[[np.ndarray], list[Box]], all_cases: list[Case]) -> dict[str, float]:
    per_kind: dict[str, list[int]] = {}
    false_faces = 0
    started = time.perf_counter()
    for case in all_cases:
        found = find(case.pixels)
        matched = [any(_iou(face, box) >= MATCH_IOU for box in found) for face in case.faces]
        kind = case.name.split(" ", 1)[1].split(" ", 2)[-1] if " face " in case.name else "whole"
        hits = per_kind.setdefault(kind, [0, 0])
        hits[0] += sum(matched)
        hits[1] += len(case.faces)
        false_faces += sum(
            1 for box in found if not any(_iou(face, box) >= MATCH_IOU for face in case.faces)
        )
    millis = (time.perf_counter() - started) * 1000 / len(all_cases)
    result = {kind: hits[0] / hits[1] for kind, hits in per_kind.items() if hits[1]}
    result["faces"] = sum(h[1] for h in per_kind.values())
    result["false"] = false_faces
    result["ms"] = millis
    return result


def ours(name: str) -> Callable[[np.ndarray], list[Box]]:
    from analysis.ml import loaders
    from analysis.ml.detection import find_faces

    detector = loaders.detector(name)
    return lambda pixels: [tuple(map(float, f.box.as_list())) for f in find_faces(pixels, detector)]


def peer(mtcnn: bool) -> Callable[[np.ndarray], list[Box]]:
    fer = plain_fer(mtcnn=mtcnn)
    return lambda pixels: [tuple(map(float, f["box"])) for f in fer_faces(fer, pixels)]


def main() -> None:
    all_cases = list(cases())
    methods = [
        ("plain fer, Haar", peer(False)),
        ("plain fer, MTCNN", peer(True)),
        ("ours, haar", ours("haar")),
        ("ours, mtcnn", ours("mtcnn")),
        ("ours, blazeface", ours("blazeface")),
        ("ours, auto (mtcnn+blazeface)", ours("auto")),
    ]
    # Each kind of picture, and its column's heading.
    kinds = {
        "whole": "whole",
        "cut by the left edge": "left edge",
        "cut by the bottom edge": "bottom edge",
        "close-up": "close-up",
    }
    print(
        f"{len(all_cases)} pictures; recall per kind of picture, and detections that match no "
        "drawn box over all of them (false faces, or neighbours a cut left mostly outside)"
    )
    header = (
        f"{'method':<30}"
        + "".join(f"{column:>13}" for column in kinds.values())
        + f"{'unmatched':>11}{'ms/img':>8}"
    )
    print(header)
    for label, find in methods:
        find(all_cases[0].pixels)  # load and warm the models outside the timing
        result = score(find, all_cases)
        cells = "".join(f"{result.get(k, 0) * 100:>12.1f}%" for k in kinds)
        print(f"{label:<30}{cells}{int(result['false']):>11}{result['ms']:>8.1f}")


if __name__ == "__main__":
    main()
