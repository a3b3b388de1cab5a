"""Reading video files: checking one before it is queued, and sampling its frames.

PyAV (FFmpeg) reads MP4, WebM and MOV. A file is accepted only if FFmpeg finds a video stream
in it, knows its length and decodes its first frame; frames are then read one at a time, so a
long video never sits in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.ml.images import ImageError
from analysis.ml.types import RGBImage


class VideoError(ImageError):
    code = "invalid_video"


class VideoTooLong(VideoError):
    code = "video_too_long"


class VideoTooLarge(VideoError):
    code = "video_too_large"


# Containers FFmpeg may open: FFmpeg probes the file with these demuxers only, so anything else
# (an image, a text file, a playlist that names other files) is refused by FFmpeg itself.
CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}
FORMAT_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm"


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    fps: float
    width: int
    height: int
    codec: str


@dataclass(frozen=True)
class Frame:
    index: int
    t: float
    pixels: RGBImage


def _open(path: Path):  # type: ignore[no-untyped-def]
    import av

    try:
        container = av.open(
            str(path),
            mode="r",
            options={"protocol_whitelist": "file", "format_whitelist": FORMAT_WHITELIST},
        )
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise VideoError(
            "The file is not a video that can be read (MP4, WebM or MOV are)."
        ) from exc
    if container.format.name not in CONTAINERS or not container.streams.video:
        container.close()
        raise VideoError("The file holds no video stream (MP4, WebM or MOV are read).")
    return container


def probe(path: Path, *, max_seconds: float, max_pixels: int) -> VideoInfo:
    """What the video is, after checking that it can be read: raises VideoError otherwise."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        if width <= 0 or height <= 0:
            raise VideoError("The video has no picture size.")
        if width * height > max_pixels:
            raise VideoTooLarge(
                f"The video is {width}x{height}; at most {max_pixels:,} pixels a frame are read."
            )
        duration = _duration(container, stream)
        if duration <= 0:
            raise VideoError("The length of the video is unknown: the file may be cut short.")
        if duration > max_seconds:
            raise VideoTooLong(
                f"The video lasts {duration:.0f} s; at most {max_seconds:.0f} s are analysed."
            )
        try:
            first = next(container.decode(stream), None)
        except (av.FFmpegError, ValueError) as exc:
            raise VideoError("The video's first frame cannot be decoded.") from exc
        if first is None:
            raise VideoError("The video has no frame that can be decoded.")
        rate = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        # Boxes are given in the upright picture (a phone's portrait video is stored sideways).
        upright = _upright(np.empty((height, width, 1), dtype=np.uint8), first)
        return VideoInfo(
            duration=round(duration, 3),
            fps=round(rate, 3),
            width=int(upright.shape[1]),
            height=int(upright.shape[0]),
            codec=str(stream.codec_context.name),
        )
    finally:
        container.close()


def _duration(container, stream) -> float:  # type: ignore[no-untyped-def]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    return 0.0


def sampled_frames(
    path: Path, *, fps: float, max_seconds: float = 3600.0, max_pixels: int = 1 << 24
) -> Iterator[Frame]:
    """The frames nearest to every 1/fps seconds, upright RGB, one at a time, up to
    ``max_seconds`` (the header's duration can lie: a file may hold far more frames).

    Raises VideoError when the file turns out damaged part way (the frames before were
    already given), or a frame is over ``max_pixels``."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        step = 1.0 / fps
        next_t = 0.0
        index = 0
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        try:
            for frame in container.decode(stream):
                if frame.pts is None or frame.time_base is None:
                    continue
                t = float(frame.pts * frame.time_base) - start
                if t > max_seconds:
                    return
                if t + 1e-3 < next_t:
                    continue
                if frame.width * frame.height > max_pixels:
                    raise VideoTooLarge(
                        f"A frame at {t:.1f} s is {frame.width}x{frame.height}; at most "
                        f"{max_pixels:,} pixels a frame are read."
                    )
                pixels = np.ascontiguousarray(_upright(frame.to_ndarray(format="rgb24"), frame))
                yield Frame(index=index, t=round(t, 3), pixels=pixels)
                index += 1
                # The next sample is due one step after this one, never in the past.
                next_t = max(next_t + step, t + step * 0.5)
        except (av.FFmpegError, ValueError) as exc:
            raise VideoError(
                f"The video is damaged after {next_t:.1f} s: it could not be read further."
            ) from exc
    finally:
        container.close()


def _upright(pixels: np.ndarray, frame) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Phones store portrait videos sideways with a rotation in the metadata."""
    rotation = int(getattr(frame, "rotation", 0) or 0) % 360
    if rotation == 90:
        return np.rot90(pixels, 1)
    if rotation == 180:
        return pixels[::-1, ::-1]
    if rotation == 270:
        return np.rot90(pixels, 3)
    return pixels


# Bhattacharyya distance between the colour histograms of two sampled frames above which they
# belong to different shots. On the real clip in ../shared/testdata the three cuts measured
# 0.45-0.58 and frames within a shot at most 0.22 (at 5 frames per second).
CUT_DISTANCE = 0.35


class SceneCuts:
    """Tells when a frame starts a new shot, from its colour histogram against the previous
    frame's: a face after a cut is a new face, however near its box."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None

    def is_cut(self, pixels: RGBImage) -> bool:
        import cv2

        small = cv2.resize(pixels, (64, 36), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        histogram = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
        cv2.normalize(histogram, histogram, 1, 0, cv2.NORM_L1)
        previous, self._previous = self._previous, histogram
        if previous is None:
            return False
        distance = cv2.compareHist(previous, histogram, cv2.HISTCMP_BHATTACHARYYA)
        return bool(distance > CUT_DISTANCE)
