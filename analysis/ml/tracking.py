"""Following faces from one sampled video frame to the next, so each person keeps a number.

A face joins the track whose last box overlaps it most (intersection over union), each track
taking at most one face per frame (an optimal assignment, not first come first served). A
track that has not been seen for ``max_gap`` seconds is closed: a face that comes back after
that gets a new number. Overlap alone fails when a face moves a lot between two samples (at 1
or 2 frames per second), so a face also joins a track whose last box is near enough relative to
the face's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from analysis.ml.types import Box


def iou(a: Box, b: Box) -> float:
    x1, y1 = max(a.x, b.x), max(a.y, b.y)
    x2, y2 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def _closeness(a: Box, b: Box) -> float:
    """1 for the same centre and size, falling to 0 when the centres are one face apart or
    the sizes differ by half."""
    side = max(1.0, (a.w + a.h + b.w + b.h) / 4)
    ax, ay = a.x + a.w / 2, a.y + a.h / 2
    bx, by = b.x + b.w / 2, b.y + b.h / 2
    distance = float(np.hypot(ax - bx, ay - by)) / side
    size = min(a.w, b.w) / max(a.w, b.w, 1)
    if size < 0.5:
        return 0.0
    return max(0.0, 1.0 - distance)


@dataclass
class Track:
    number: int
    box: Box
    first: float
    last: float
    hits: int = 1


class Tracker:
    def __init__(
        self, *, max_gap: float = 1.5, min_score: float = 0.2, remember: bool = True
    ) -> None:
        """``remember``: keep every track ever seen in ``tracks`` (a video's summary needs
        them); a live stream keeps only its open tracks, so its memory stays flat."""
        self.max_gap = max_gap
        self.min_score = min_score
        self.remember = remember
        self.tracks: list[Track] = []
        self._open: list[Track] = []
        self._count = 0

    @property
    def open_tracks(self) -> list[Track]:
        """The tracks a face may still join."""
        return list(self._open)

    def cut(self) -> None:
        """A new shot starts: no face of the previous one continues."""
        self._open = []

    def update(self, t: float, boxes: list[Box]) -> list[int]:
        """The track number of each box seen at time ``t`` (seconds), in the boxes' order."""
        self._open = [track for track in self._open if t - track.last <= self.max_gap]
        numbers = [-1] * len(boxes)
        if self._open and boxes:
            scores = np.array(
                [
                    [max(iou(track.box, box), _closeness(track.box, box)) for track in self._open]
                    for box in boxes
                ]
            )
            rows, cols = linear_sum_assignment(-scores)
            for row, col in zip(rows, cols, strict=True):
                if scores[row, col] >= self.min_score:
                    track = self._open[col]
                    track.box, track.last = boxes[row], t
                    track.hits += 1
                    numbers[row] = track.number
        for row, box in enumerate(boxes):
            if numbers[row] == -1:
                self._count += 1
                track = Track(number=self._count, box=box, first=t, last=t)
                if self.remember:
                    self.tracks.append(track)
                self._open.append(track)
                numbers[row] = track.number
        return numbers
