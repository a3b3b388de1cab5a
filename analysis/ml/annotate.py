"""Drawing the result on the picture: a numbered box per face with its dominant emotion."""

from __future__ import annotations

import cv2
import numpy as np

from analysis.ml.types import FaceResult, RGBImage

# One colour per emotion (RGB), the same as the page's charts.
COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (220, 38, 38),
    "disgust": (101, 163, 13),
    "fear": (124, 58, 237),
    "happy": (245, 158, 11),
    "neutral": (100, 116, 139),
    "sad": (37, 99, 235),
    "surprise": (219, 39, 119),
}
UNCERTAIN_COLOR = (148, 163, 184)


def annotate(image: RGBImage, faces: tuple[FaceResult, ...]) -> RGBImage:
    """A copy of ``image`` with each face boxed and labelled; uncertain faces drawn dashed."""
    out = np.ascontiguousarray(image.copy())
    height, width = out.shape[:2]
    # Line and text sizes follow the picture, so labels stay readable on large photos.
    unit = max(1.0, max(width, height) / 800)
    thickness = max(2, round(2 * unit))
    font_scale = 0.55 * unit
    for result in faces:
        box = result.face.box
        emotion = result.emotions.dominant
        uncertain = result.quality.verdict == "uncertain"
        color = UNCERTAIN_COLOR if uncertain else COLORS[emotion]
        top_left, bottom_right = (box.x, box.y), (box.x + box.w, box.y + box.h)
        if uncertain:
            _dashed_rectangle(out, top_left, bottom_right, color, thickness)
        else:
            cv2.rectangle(out, top_left, bottom_right, color, thickness, cv2.LINE_AA)
        label = f"{result.index + 1} {emotion} {result.emotions.confidence * 100:.0f}%"
        if uncertain:
            label += " ?"
        (text_w, text_h), baseline = cv2.getTextSize(
            label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, max(1, thickness // 2)
        )
        pad = round(4 * unit)
        label_y = box.y - text_h - baseline - 2 * pad
        if label_y < 0:
            label_y = min(height - text_h - baseline - 2 * pad, box.y + box.h)
        label_x = min(max(0, box.x), max(0, width - text_w - 2 * pad))
        cv2.rectangle(
            out,
            (label_x, label_y),
            (label_x + text_w + 2 * pad, label_y + text_h + baseline + 2 * pad),
            color,
            cv2.FILLED,
        )
        cv2.putText(
            out,
            label,
            (label_x + pad, label_y + pad + text_h),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (255, 255, 255),
            max(1, thickness // 2),
            cv2.LINE_AA,
        )
    return out


def _dashed_rectangle(
    image: RGBImage,
    top_left: tuple[int, int],
    bottom_right: tuple[int, int],
    color: tuple[int, int, int],
    thickness: int,
) -> None:
    (x1, y1), (x2, y2) = top_left, bottom_right
    dash = max(6, thickness * 4)
    for start in range(x1, x2, dash * 2):
        end = min(start + dash, x2)
        cv2.line(image, (start, y1), (end, y1), color, thickness)
        cv2.line(image, (start, y2), (end, y2), color, thickness)
    for start in range(y1, y2, dash * 2):
        end = min(start + dash, y2)
        cv2.line(image, (x1, start), (x1, end), color, thickness)
        cv2.line(image, (x2, start), (x2, end), color, thickness)
