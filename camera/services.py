"""Live camera frames through the same analysis as uploads, and capturing one to the archive."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from accounts.models import User
from analysis import services as analysis_services
from analysis.api.serializers import AnalysisOutput
from analysis.services import LiveStream
from archive.models import SavedAnalysis
from archive.people import signatures_for
from archive.services import analysis_pictures, analysis_save, usage_record

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


def frame_submit(stream: LiveStream, data: bytes) -> Future[dict[str, Any]]:
    """Queue one JPEG frame of ``stream`` in the live lane; the future gives the answer's body
    (faces of the same shape as the API's, each with its ``track``). Raises Busy when the lane
    is full; cancelling the future before the frame's turn drops the frame."""

    def work() -> dict[str, Any]:
        answer = analysis_services.live_frame(stream, data)
        body = AnalysisOutput(answer.run).data
        faces = [
            {**face, "track": track}
            for face, track in zip(body["faces"], answer.frame.tracks, strict=True)
        ]
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
