"""Live camera frames through the same analysis as uploads, and capturing one to the archive."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from accounts.models import User
from analysis import services as analysis_services
from analysis.api.serializers import AnalysisOutput
from analysis.services import LiveStream
from archive.models import Person, SavedAnalysis
from archive.people import (
    Gallery,
    gallery_of,
    gallery_version,
    person_fields,
    signatures_for,
)
from archive.services import analysis_pictures, analysis_save, usage_record

logger = logging.getLogger(__name__)

# A live frame is scored in one pass, so that the overlay keeps up: the same face seen in the
# frames of the last half second stands in for the test-time views (its scores are smoothed
# over time, see analysis.ml.live). A capture uses the full default.
LIVE_PASSES = 1
CAPTURE_PASSES = 10
MAX_FRAME_BYTES = 4 * 1024 * 1024
# A webcam frame is at most 4K; a small file claiming more pixels would only cost memory.
MAX_FRAME_PIXELS = 3840 * 2160


def stream_start(*, detector: str = "auto", passes: int = LIVE_PASSES) -> LiveStream:
    """A new camera stream's state (what it has seen, its faces' tracks)."""
    return LiveStream(detector=detector, passes=passes, max_pixels=MAX_FRAME_PIXELS)


# Faces newly in view that are signed and looked up per frame: signing costs about 140 ms a
# face, so a crowd coming into view is named over a few frames rather than freezing one.
NAMED_PER_FRAME = 1
# A face not recognised is looked at again this often while it stays in view (it may have been
# turned away or blurred the first time).
RENAME_SECONDS = 2.0


@dataclass
class _Named:
    person: Person | None
    similarity: float | None
    at: float


@dataclass
class LiveNames:
    """Who the faces of one camera stream are, among its owner's people: each track is signed
    once when it comes into view (again now and then while unknown), not every frame. Holds
    only the tracks in view. Used in the live lane, one frame at a time."""

    gallery: Gallery
    # What the gallery was read from (archive.people.gallery_version): read again when it
    # changes.
    version: tuple[Any, ...] = ()
    _tracks: dict[int, _Named] = field(default_factory=dict)
    _off: bool = False

    def recognise(self, answer: analysis_services.LiveAnswer) -> list[_Named | None]:
        """Per face of the frame, who it is (None: not looked at yet)."""
        tracks = answer.frame.tracks
        for gone in set(self._tracks) - set(tracks):
            del self._tracks[gone]
        if not self.gallery.person_ids or self._off:
            return [None] * len(tracks)
        now = time.monotonic()
        due = [
            (track, result.face)
            for track, result in zip(tracks, answer.frame.result.faces, strict=True)
            if result.face.how != "whole_image"
            and (
                track not in self._tracks
                or (
                    self._tracks[track].person is None
                    and now - self._tracks[track].at >= RENAME_SECONDS
                )
            )
        ]
        for track, face in due[:NAMED_PER_FRAME]:
            try:
                signed = analysis_services.signatures_of(
                    answer.image, [face], lane=analysis_services.LIVE
                )
            except analysis_services.FeatureUnavailable:
                # Naming is extra: the stream goes on without it.
                logger.warning("The camera names nobody: the signature model is unavailable")
                self._off = True
                return [None] * len(tracks)
            self._tracks[track] = _Named(*self.gallery.closest(signed.signatures[0]), at=now)
        return [self._tracks.get(track) for track in tracks]


def live_names(*, owner: User, current: LiveNames | None = None) -> LiveNames | None:
    """A stream's naming state when ``owner`` has identity features on, else None: ``current``
    when their people have not changed since it was read, else read afresh (database work:
    call it outside the lane; a socket calls it again every few seconds)."""
    # Read afresh: the user may have turned identity features off since the socket opened.
    if not User.objects.filter(pk=owner.pk, identity_enabled=True).exists():
        return None
    version = gallery_version(owner)
    if current is not None and current.version == version:
        return current
    return LiveNames(gallery_of(owner, analysis_services.SIGNATURE_MODEL), version)


def frame_submit(
    stream: LiveStream, data: bytes, *, names: LiveNames | None = None
) -> Future[dict[str, Any]]:
    """Queue one JPEG frame of ``stream`` in the live lane; the future gives the answer's body
    (faces of the same shape as the API's, each with its ``track``, and with ``names`` its
    ``person`` and ``person_similarity``). Raises Busy when the lane is full; cancelling the
    future before the frame's turn drops the frame."""

    def work() -> dict[str, Any]:
        answer = analysis_services.live_frame(stream, data)
        body = AnalysisOutput(answer.run).data
        faces = [
            {**face, "track": track}
            for face, track in zip(body["faces"], answer.frame.tracks, strict=True)
        ]
        if names is not None:
            for face, named in zip(faces, names.recognise(answer), strict=True):
                face.update(
                    person_fields(None, None)
                    if named is None
                    else person_fields(named.person, named.similarity)
                )
        return {
            **{key: body[key] for key in ("image", "passes", "detector", "timings_ms")},
            "faces": faces,
            "repeated": answer.frame.repeated,
        }

    return analysis_services.lane_submit(analysis_services.LIVE, work)


@dataclass(frozen=True)
class CapturedFrame:
    run: analysis_services.AnalysisRun
    pictures: dict[str, bytes]
    signatures: analysis_services.Signed | None = None


def frame_capture_run(*, owner: User, data: bytes, detector: str = "auto") -> CapturedFrame:
    """Analyse a frame fully, as an upload would be, draw its pictures and (when ``owner`` has
    identity features on) sign its faces: all the CPU work of a capture, for a worker
    thread."""
    run = analysis_services.analysis_run(
        data=data,
        detector=detector,
        passes=CAPTURE_PASSES,
        annotated=False,
        max_pixels=MAX_FRAME_PIXELS,
    )
    return CapturedFrame(
        run=run,
        pictures=analysis_pictures(run=run),
        signatures=signatures_for(owner=owner, run=run),
    )


def frame_capture_save(*, owner: User, frame: CapturedFrame, name: str) -> SavedAnalysis:
    """Save a captured frame's analysis to ``owner``'s archive, marked as from the camera
    (database and storage work only)."""
    saved = analysis_save(
        owner=owner,
        run=frame.run,
        name=name,
        source=SavedAnalysis.Source.CAMERA,
        pictures=frame.pictures,
        signatures=frame.signatures,
    )
    usage_record(owner=owner, source=SavedAnalysis.Source.CAMERA, faces=len(frame.run.result.faces))
    return saved
