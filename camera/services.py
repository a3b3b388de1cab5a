"""Live camera frames through the same analysis as uploads, and capturing one to the archive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accounts.models import User
from analysis import services as analysis_services
from analysis.api.serializers import AnalysisOutput
from archive.models import SavedAnalysis
from archive.services import analysis_pictures, analysis_save, usage_record

# A live frame is scored through fewer passes than an upload, so that the overlay keeps up;
# a capture uses the full default.
LIVE_PASSES = 3
CAPTURE_PASSES = 10
MAX_FRAME_BYTES = 4 * 1024 * 1024
# A webcam frame is at most 4K; a small file claiming more pixels would only cost memory.
MAX_FRAME_PIXELS = 3840 * 2160


def frame_analyse(
    *, data: bytes, detector: str = "auto", passes: int = LIVE_PASSES
) -> dict[str, Any]:
    """Score one JPEG frame; the faces have the same shape as the API's."""
    run = analysis_services.analysis_run(
        data=data, detector=detector, passes=passes, annotated=False, max_pixels=MAX_FRAME_PIXELS
    )
    body = AnalysisOutput(run).data
    return {key: body[key] for key in ("image", "faces", "passes", "detector", "timings_ms")}


@dataclass(frozen=True)
class CapturedFrame:
    run: analysis_services.AnalysisRun
    pictures: dict[str, bytes]


def frame_capture_run(*, data: bytes, detector: str = "auto") -> CapturedFrame:
    """Analyse a frame fully, as an upload would be, and draw its pictures: all the CPU work
    of a capture, for a worker thread."""
    run = analysis_services.analysis_run(
        data=data,
        detector=detector,
        passes=CAPTURE_PASSES,
        annotated=False,
        max_pixels=MAX_FRAME_PIXELS,
    )
    return CapturedFrame(run=run, pictures=analysis_pictures(run=run))


def frame_capture_save(*, owner: User, frame: CapturedFrame, name: str) -> SavedAnalysis:
    """Save a captured frame's analysis to ``owner``'s archive, marked as from the camera
    (database and storage work only)."""
    saved = analysis_save(
        owner=owner,
        run=frame.run,
        name=name,
        source=SavedAnalysis.Source.CAMERA,
        pictures=frame.pictures,
    )
    usage_record(owner=owner, source=SavedAnalysis.Source.CAMERA, faces=len(frame.run.result.faces))
    return saved
