"""Whether a face can be read well: size, sharpness, pose and agreement between the passes.

A face that fails any check is marked ``uncertain`` with the reasons, so that the page can say
"this answer is shaky" instead of showing a confident-looking wrong one.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from analysis.ml.alignment import MAX_ROLL_DEGREES, face_roll
from analysis.ml.types import DetectedFace, EmotionScores, Quality, RGBImage

# The networks learned from faces of 48 px and more; below this many pixels there is little
# expression left to read.
MIN_FACE_SIDE = 40
# Variance of the Laplacian of the face scaled to 128 px: below this the face is blurred.
MIN_SHARPNESS = 25.0
# Beyond this estimated head turn, half the expression is hidden.
MAX_YAW_DEGREES = 35.0
# Share of passes that must agree with the averaged answer.
MIN_AGREEMENT = 0.6
# How far the nose tip sits in front of the eyes, as a share of the distance between the eyes;
# used to turn the nose's sideways offset into a rough yaw angle.
NOSE_DEPTH = 0.6


def assess(image: RGBImage, face: DetectedFace, scores: EmotionScores) -> Quality:
    reasons: list[str] = []
    size = min(face.box.w, face.box.h)
    if face.how == "whole_image":
        reasons.append("no face was detected; the whole picture was analysed")
    if size < MIN_FACE_SIDE:
        reasons.append(f"the face is small ({size} px)")
    sharpness = face_sharpness(image, face)
    if sharpness < MIN_SHARPNESS:
        reasons.append("the face is blurred")
    yaw = face_yaw(face)
    if yaw is not None and abs(yaw) > MAX_YAW_DEGREES:
        reasons.append("the head is turned away")
    roll = face_roll(face)
    if roll is not None and abs(roll) > MAX_ROLL_DEGREES:
        reasons.append("the head is strongly tilted")
    if scores.agreement < MIN_AGREEMENT:
        reasons.append("the augmented views disagree")
    return Quality(
        verdict="uncertain" if reasons else "reliable",
        reasons=tuple(reasons),
        face_size=size,
        sharpness=round(sharpness, 1),
        yaw=None if yaw is None else round(yaw, 1),
        roll=None if roll is None else round(roll, 1),
    )


def face_sharpness(image: RGBImage, face: DetectedFace) -> float:
    box = face.box
    region = image[box.y : box.y + box.h, box.x : box.x + box.w]
    if region.size == 0:
        return 0.0
    # Compare faces at one scale: a large face has more fine detail per pixel of its box.
    region = cv2.resize(region, (128, 128), interpolation=cv2.INTER_AREA)
    region = cv2.cvtColor(region, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(region, cv2.CV_64F).var())


def face_yaw(face: DetectedFace) -> float | None:
    """A rough head turn in degrees from the nose's offset between the eyes (MTCNN only)."""
    marks = face.landmarks
    if marks is None:
        return None
    (lx, ly), (rx, ry) = marks.left_eye, marks.right_eye
    eye_distance = math.hypot(rx - lx, ry - ly)
    if eye_distance < 1:
        return None
    mid = np.array([(lx + rx) / 2, (ly + ry) / 2])
    axis = np.array([rx - lx, ry - ly]) / eye_distance
    offset = float(np.dot(np.array(marks.nose) - mid, axis)) / eye_distance
    # Turning by yaw moves the nose tip sideways by NOSE_DEPTH * tan(yaw) eye-distances.
    return math.degrees(math.atan(offset / NOSE_DEPTH))
