"""A camera stream's analysis: an answer per frame in milliseconds, each face followed.

A full analysis of a 640x480 frame costs 50-150 ms on this CPU, most of it MTCNN's image
pyramid; a camera needs an answer in a few tens of milliseconds. So, per stream:

- BlazeFace finds the faces of every frame (about 1.5 ms a look: it reads the picture at
  192 px), once as it is and once inside a plain border, so that a face cut by the edge is
  found too, and once more with the frame mirrored at its left and right edges, which only
  adds faces (a face cut by one of them is nearly whole there; analysis.ml.fused);
- the stream's own detector (``auto``: MTCNN with BlazeFace) runs on a copy at most
  LIVE_DETECTION_SIDE px long, about once a second (sooner when the number of faces BlazeFace
  sees changes), but never on more than one frame in FULL_DETECTION_FRAMES: it costs ten quick
  frames, so however slowly a stream goes, it stays a small share of the work. The faces only
  it finds (small, far ones) are carried until it runs again. A stream that chose another
  detector runs that one, on the small copy, every frame;
- each face joins its track (analysis.ml.tracking), so it keeps its number while in view;
- each face is scored through ``passes`` views, and its probabilities are smoothed over the
  track's last SMOOTHING_SECONDS (an exponential moving average, by time, so the smoothing
  means the same at 5 and at 30 frames a second): one odd frame does not flip the label;
- a frame that hardly differs from the last one analysed is answered with that answer again.

Plain Python: the models are passed in, so tests can hand in fakes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from analysis.ml import tta
from analysis.ml.detection import DETECTOR_MIN_FACE, clip_face, detect_scaled
from analysis.ml.fused import EDGE_BORDER, added, merge, same_face
from analysis.ml.pipeline import judged, summarise
from analysis.ml.tracking import Tracker
from analysis.ml.types import (
    EMOTIONS,
    DetectedFace,
    EmotionScores,
    FaceDetector,
    FaceScorer,
    ImageResult,
    RGBImage,
)

if TYPE_CHECKING:
    from analysis.ml.blazeface import BlazeFaceDetector

# The stream's own detector reads a copy this long at most (MTCNN costs 35 ms there, against
# 90 ms on the whole 640x480 frame): a cost choice for a stream, whose faces are near the
# camera. Its smallest face (20 px) is then 40 px of the frame (MIN_FACE_SIDE).
LIVE_DETECTION_SIDE = 320
# ...and runs this often, or after this much when the face count changed, and on at most one
# frame in FULL_DETECTION_FRAMES.
FULL_DETECTION_SECONDS = 1.0
FULL_DETECTION_MIN_SECONDS = 0.5
FULL_DETECTION_FRAMES = 15
# A face unseen for this long loses its number.
TRACK_GAP_SECONDS = 1.0
# Time constant of the smoothing of each face's probabilities.
SMOOTHING_SECONDS = 0.4
# A frame is the same picture as the last analysed one when, on 160x120 grey thumbnails, no
# 20x20 block differs by UNCHANGED_LEVEL grey levels or more on average. Blocks, not the whole
# picture: a mouth that moves changes one block and must be read again, while in a whole-frame
# mean it drowns in the still background. Sensor noise of 3 levels gives blocks of about 1; on
# the real test clip (24 frames a second shown at 30) the repeated frames, a fifth, fall below
# 2 and the others above. The old answer is repeated for at most UNCHANGED_SECONDS.
UNCHANGED_LEVEL = 2.0
UNCHANGED_SECONDS = 1.0
THUMBNAIL = (160, 120)
BLOCK = 20


@dataclass(frozen=True)
class LiveFrame:
    """One frame's answer: the result, each face's track number, and whether it repeats the
    previous answer because the picture did not change."""

    result: ImageResult
    tracks: tuple[int, ...]
    repeated: bool


class LiveAnalyser:
    """The state of one camera stream. Not thread-safe: one frame at a time."""

    def __init__(
        self,
        *,
        classifier: FaceScorer,
        passes: int,
        full: FaceDetector | None,
        quick: BlazeFaceDetector | None,
    ) -> None:
        if full is None and quick is None:
            raise ValueError("A live stream needs a detector")
        self.classifier = classifier
        self.views = tta.views(passes)
        self.full = full
        self.quick = quick
        self.tracker = Tracker(max_gap=TRACK_GAP_SECONDS, remember=False)
        self._smoothed: dict[int, tuple[npt.NDArray[np.float64], float]] = {}
        self._carried: list[DetectedFace] = []
        self._full_at = -math.inf
        self._frames_since_full = FULL_DETECTION_FRAMES
        self._quick_count = -1
        self._last: tuple[npt.NDArray[np.int16], float, LiveFrame] | None = None

    @property
    def detector_name(self) -> str:
        return (self.full or self.quick).name  # type: ignore[union-attr]

    def analyse(self, image: RGBImage, now: float) -> LiveFrame:
        """The answer for ``image``, seen at ``now`` (seconds, any monotonic clock)."""
        started = time.perf_counter()
        thumbnail = _thumbnail(image)
        repeat = self._repeat(thumbnail, image, now)
        if repeat is not None:
            return replace(
                repeat,
                result=replace(repeat.result, timings_ms={"detect": _ms_since(started)}),
                repeated=True,
            )
        faces = sorted(self._detect(image, now), key=lambda face: (face.box.x, face.box.y))
        detected = time.perf_counter()
        numbers = self.tracker.update(now, [face.box for face in faces])
        scores = self.classifier.score([(image, face) for face in faces], self.views)
        results = []
        for index, (face, number, per_pass) in enumerate(zip(faces, numbers, scores, strict=True)):
            emotions = self._smooth(number, summarise(per_pass), now)
            results.append(judged(image, index, face, emotions))
        # Smoothing state lives as long as its track.
        self._smoothed = {
            number: kept
            for number, kept in self._smoothed.items()
            if now - kept[1] <= TRACK_GAP_SECONDS
        }
        result = ImageResult(
            width=int(image.shape[1]),
            height=int(image.shape[0]),
            detector=self.detector_name,
            passes=len(self.views),
            faces=tuple(results),
            timings_ms={
                "detect": round((detected - started) * 1000, 1),
                "classify": _ms_since(detected),
            },
            models={"detector": self.detector_name, "emotion": self.classifier.name},
        )
        frame = LiveFrame(result=result, tracks=tuple(numbers), repeated=False)
        self._last = (thumbnail, now, frame)
        return frame

    def _repeat(
        self, thumbnail: npt.NDArray[np.int16], image: RGBImage, now: float
    ) -> LiveFrame | None:
        if self._last is None:
            return None
        last_thumbnail, at, frame = self._last
        same_size = (frame.result.width, frame.result.height) == (image.shape[1], image.shape[0])
        if not same_size or now - at > UNCHANGED_SECONDS:
            return None
        difference = np.abs(thumbnail - last_thumbnail)
        rows, columns = THUMBNAIL[1] // BLOCK, THUMBNAIL[0] // BLOCK
        blocks = difference.reshape(rows, BLOCK, columns, BLOCK).mean(axis=(1, 3))
        if float(blocks.max()) >= UNCHANGED_LEVEL:
            return None
        return frame

    def _detect(self, image: RGBImage, now: float) -> list[DetectedFace]:
        if self.quick is None:
            assert self.full is not None  # noqa: S101 - checked in __init__
            return detect_scaled(image, self.full, max_side=LIVE_DETECTION_SIDE)
        # The full detector's smallest face, in this frame's pixels.
        height, width = image.shape[:2]
        min_size = round(DETECTOR_MIN_FACE * max(height, width) / LIVE_DETECTION_SIDE)
        looks = added(
            merge(
                self.quick.detect(image, min_size=min_size)
                + self.quick.detect(image, min_size=min_size, border=EDGE_BORDER)
            ),
            self.quick.detect(image, min_size=min_size, border=EDGE_BORDER, mirror=True),
            width,
            height,
        )
        # In the frame's pixels, as a photo's faces and the full detector's are (the bordered
        # and mirrored looks box a face cut by the edge past it), before they are compared
        # with the full detector's.
        quick = [f for f in (clip_face(face, width, height) for face in looks) if f is not None]
        if self.full is None:
            return quick
        since = now - self._full_at
        self._frames_since_full += 1
        due = self._frames_since_full >= FULL_DETECTION_FRAMES and (
            since >= FULL_DETECTION_SECONDS
            or (len(quick) != self._quick_count and since >= FULL_DETECTION_MIN_SECONDS)
        )
        if due:
            full = detect_scaled(image, self.full, max_side=LIVE_DETECTION_SIDE)
            self._full_at, self._quick_count = now, len(quick)
            self._frames_since_full = 0
            self._carried = [
                face for face in full if not any(same_face(face.box, q.box) for q in quick)
            ]
            return full
        carried = [
            face for face in self._carried if not any(same_face(face.box, q.box) for q in quick)
        ]
        return quick + carried

    def _smooth(self, track: int, scores: EmotionScores, now: float) -> EmotionScores:
        current = np.array([scores.probabilities[name] for name in EMOTIONS], dtype=np.float64)
        previous = self._smoothed.get(track)
        if previous is not None:
            value, at = previous
            keep = math.exp(-max(0.0, now - at) / SMOOTHING_SECONDS)
            current = keep * value + (1.0 - keep) * current
        current /= current.sum()
        self._smoothed[track] = (current, now)
        return replace(
            scores,
            probabilities={
                name: round(float(p), 4) for name, p in zip(EMOTIONS, current, strict=True)
            },
        )


def _thumbnail(image: RGBImage) -> npt.NDArray[np.int16]:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, THUMBNAIL, interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.int16)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
