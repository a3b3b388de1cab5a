"""Finding faces the way a person expects: every face, in photos of any size and in tight crops.

Detectors work best on faces of a middling size with some background around them. So the image
is scaled for the detector (large photos down, tiny crops up) and boxes are mapped back; when
no face of a readable size is found, the image is framed with a plain border and searched
again, because archives of tightly cropped faces are a common input that detectors miss. A
small, face-shaped picture in which still nothing is found is analysed whole, and the result
says so.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from analysis.ml.quality import MIN_FACE_SIDE
from analysis.ml.types import Box, DetectedFace, FaceDetector, RGBImage

# Detection runs on a copy whose longer side is at most this: faces stay large enough for
# MTCNN (its smallest is 20 px) while the cost of its image pyramid stays bounded.
MAX_DETECTION_SIDE = 1024
# Tiny images are scaled up to this longer side first, so their face is not below MTCNN's
# smallest size once framed.
MIN_DETECTION_SIDE = 320
# The border added around a picture that may be a tight face crop, as a share of its long side.
FRAME_BORDER = 0.3
# The framed search is for pictures a face fills: what it finds must cover this share of the
# picture, or it is a false face on a picture that simply has none (a cat, a texture).
MIN_FRAMED_FACE_SHARE = 0.2
# A picture no larger than this, and roughly face-shaped, is taken as one face crop.
MAX_FACE_CROP_SIDE = 256
FACE_CROP_ASPECT = (0.5, 2.0)
# ...and no smaller than this: a picture of a few pixels shows no face a person could read.
MIN_FACE_CROP_SIDE = 24
# A face crop's brightness varies (grey-level standard deviation) and it has edges (mean
# absolute Laplacian), both measured at 64x64. On the 126 real faces of the test data the
# lowest are 21 and 4.3; a flat card has 0 and 0, a smooth left-to-right gradient 74 and 0.25.
MIN_CROP_CONTRAST = 8.0
MIN_CROP_EDGES = 1.5
# The smallest face the detectors look for, in pixels of the picture they are shown (MTCNN's
# own smallest).
DETECTOR_MIN_FACE = 20
# Two detections overlapping more than this are the same face.
DUPLICATE_IOU = 0.5


def find_faces(image: RGBImage, detector: FaceDetector) -> list[DetectedFace]:
    """All faces in ``image``, left to right, in the image's own pixel coordinates."""
    height, width = image.shape[:2]
    scale = _detection_scale(width, height)
    work = image if scale == 1.0 else _resize(image, scale)

    # Down to the detector's smallest face, in the picture it is shown: faces in group photos
    # are often 25-40 px, and a face found small is still shown (marked too small to read
    # well, analysis.ml.quality) where a face missed is simply lost to the user.
    faces = _detect_mapped(
        detector, work, scale=scale, offset=0, how="detected", min_size=DETECTOR_MIN_FACE
    )
    # A picture in which only small faces were found (perhaps false ones) may still be one
    # that a face fills: small means under MIN_FACE_SIDE of the picture (of the copy when it
    # was scaled up: a small crop's face is small in its own pixels).
    readable = MIN_FACE_SIDE / max(scale, 1.0)
    if not any(min(face.box.w, face.box.h) >= readable for face in faces):
        border = round(FRAME_BORDER * max(work.shape[:2]))
        framed = _frame(work, border)
        faces += [
            face
            for face in _detect_mapped(
                detector,
                framed,
                scale=scale,
                offset=border,
                how="framed",
                min_size=DETECTOR_MIN_FACE,
            )
            if face.box.w * face.box.h >= MIN_FRAMED_FACE_SHARE * width * height
        ]
    faces = [f for f in (clip_face(face, width, height) for face in faces) if f is not None]
    if not faces and looks_like_a_face_crop(width, height) and shows_something(image):
        faces = [
            DetectedFace(
                box=Box(0, 0, width, height), score=0.0, detector=detector.name, how="whole_image"
            )
        ]
    return sorted(_deduplicate(faces), key=lambda face: (face.box.x, face.box.y))


def detect_scaled(image: RGBImage, detector: FaceDetector, *, max_side: int) -> list[DetectedFace]:
    """The faces ``detector`` finds on a copy of ``image`` at most ``max_side`` px long (the
    camera's quick path: no framing, no whole-picture fallback), in ``image``'s pixels."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(width, height))
    work = image if scale == 1.0 else _resize(image, scale)
    faces = _detect_mapped(
        detector, work, scale=scale, offset=0, how="detected", min_size=DETECTOR_MIN_FACE
    )
    return [f for f in (clip_face(face, width, height) for face in faces) if f is not None]


def looks_like_a_face_crop(width: int, height: int) -> bool:
    low, high = FACE_CROP_ASPECT
    return (
        min(width, height) >= MIN_FACE_CROP_SIDE
        and max(width, height) <= MAX_FACE_CROP_SIDE
        and low <= height / width <= high
    )


def shows_something(image: RGBImage) -> bool:
    """Whether a picture has the contrast and the edges that any face has.

    A face shows darker eyes, brows and mouth against skin, so its brightness varies and it
    has edges; a flat or nearly flat picture (a grey square, a coloured card) has neither and
    must not be reported as a face.
    """
    # Measured at the size the classifiers see a face, so that the edge measure does not
    # depend on the picture's resolution.
    gray = cv2.resize(
        cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (64, 64), interpolation=cv2.INTER_AREA
    )
    if float(gray.std()) < MIN_CROP_CONTRAST:
        return False
    edges = cv2.Laplacian(gray, cv2.CV_32F)
    return float(np.abs(edges).mean()) >= MIN_CROP_EDGES


def _detection_scale(width: int, height: int) -> float:
    longest = max(width, height)
    if longest > MAX_DETECTION_SIDE:
        return MAX_DETECTION_SIDE / longest
    if longest < MIN_DETECTION_SIDE:
        return MIN_DETECTION_SIDE / longest
    return 1.0


def _resize(image: RGBImage, scale: float) -> RGBImage:
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=interpolation))


def _frame(image: RGBImage, border: int) -> RGBImage:
    # A flat border in the picture's mean colour: it adds no edges a detector could mistake
    # for features, unlike replicated or mirrored borders.
    mean = [int(v) for v in image.reshape(-1, 3).mean(axis=0)]
    framed = cv2.copyMakeBorder(
        image, border, border, border, border, cv2.BORDER_CONSTANT, value=mean
    )
    return np.ascontiguousarray(framed)


def _detect_mapped(
    detector: FaceDetector,
    image: RGBImage,
    *,
    scale: float,
    offset: int,
    how: str,
    min_size: int,
) -> list[DetectedFace]:
    def back(x: float, y: float) -> tuple[float, float]:
        return ((x - offset) / scale, (y - offset) / scale)

    mapped = []
    for face in detector.detect(image, min_size=min_size):
        x, y = back(face.box.x, face.box.y)
        box = Box(round(x), round(y), round(face.box.w / scale), round(face.box.h / scale))
        landmarks = face.landmarks.mapped(lambda p: back(*p)) if face.landmarks else None
        mapped.append(
            DetectedFace(
                box=box, score=face.score, detector=face.detector, landmarks=landmarks, how=how
            )
        )
    return mapped


def clip_face(
    face: DetectedFace, width: int, height: int, *, min_side: int = 4
) -> DetectedFace | None:
    """``face`` with its box clipped to a ``width`` x ``height`` picture; None when less than
    ``min_side`` pixels of it are left inside."""
    box = face.box.clipped(width, height)
    if box.w < min_side or box.h < min_side:
        return None
    return replace(face, box=box)


def _deduplicate(faces: list[DetectedFace]) -> list[DetectedFace]:
    kept: list[DetectedFace] = []
    for face in sorted(faces, key=lambda f: -f.score):
        if all(face.box.iou(other.box) <= DUPLICATE_IOU for other in kept):
            kept.append(face)
    return kept
