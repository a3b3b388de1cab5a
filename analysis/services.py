"""Analysing images: the one entry point used by the page, the API, the camera and the archive.

Views and consumers parse their input, call these functions, and serialize what they return
with analysis.api.serializers; none of them touches the models directly.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from analysis.ml import embeddings, loaders, pipeline, registry, video
from analysis.ml.annotate import annotate
from analysis.ml.enhance import face_region
from analysis.ml.images import (
    DecodedImage,
    ImageError,
    check_file_size,
    decode_image,
    encode_jpeg,
)
from analysis.ml.live import LiveAnalyser, LiveFrame
from analysis.ml.liveness import LivenessModel
from analysis.ml.registry import LaneFull, LaneSpec
from analysis.ml.tracking import Tracker
from analysis.ml.types import (
    EMOTIONS,
    Box,
    DetectedFace,
    Enhancer,
    FaceDetector,
    FaceResult,
    FaceScorer,
    ImageResult,
    RGBImage,
    StepCallback,
    largest,
)
from analysis.ml.video import VideoInfo

logger = logging.getLogger(__name__)

T = TypeVar("T")

ENHANCERS = loaders.ENHANCERS


class FeatureUnavailable(RuntimeError):
    """Something this server cannot do now (missing weights or libraries); says why."""

    code = "unavailable"
    http_status = 503


class EnhancementUnavailable(FeatureUnavailable):
    code = "enhancement_unavailable"


class ModelUnavailable(FeatureUnavailable):
    code = "model_unavailable"


@contextmanager
def _loading(what: str, unavailable: type[FeatureUnavailable]) -> Iterator[None]:
    """Turn a model that cannot be loaded (a missing weight file, a broken install) into
    ``unavailable``, which the API answers with 503, instead of a server error."""
    try:
        yield
    except FileNotFoundError as exc:
        raise unavailable(_without_folders(str(exc))) from exc
    except (OSError, ImportError) as exc:
        logger.exception("Loading %s failed", what)
        raise unavailable(
            f"{what} cannot be loaded on this server ({_without_folders(str(exc))}). "
            "See /healthz and the README's section on model weights."
        ) from exc


_ABSOLUTE_PATH = re.compile(r"(?:/[\w.+@-]+)+/([\w.+@-]+)")


def _without_folders(message: str) -> str:
    """``message`` with every absolute path cut to its file name: errors reach API clients,
    and the server's folders are none of their business (the log keeps the full text)."""
    return _ABSOLUTE_PATH.sub(r"\1", message)


def _detector(name: str) -> FaceDetector:
    with _loading("The face detector", ModelUnavailable):
        return loaders.detector(name, threads=_threads())


def _classifier() -> FaceScorer:
    with _loading("The emotion model", ModelUnavailable):
        return loaders.emotion_classifier(models_dir=settings.ML_MODELS_DIR, threads=_threads())


def enhancer_check(name: str) -> None:
    """Raise EnhancementUnavailable now when ``name``'s weights are missing (before a job is
    queued that could only fail)."""
    weights = (
        loaders.enhancer_weights(name, models_dir=settings.ML_MODELS_DIR)
        if name in ENHANCERS
        else None
    )
    if weights is None:
        raise EnhancementUnavailable(f"Unknown enhancer {name!r}.")
    if not weights.present:
        raise EnhancementUnavailable(
            f"The {name} enhancer's weights are missing on this server: {weights.source}"
        )


def _enhancer(name: str) -> Enhancer | None:
    with _loading(f"The {name} enhancer", EnhancementUnavailable):
        return loaders.enhancer(name, models_dir=settings.ML_MODELS_DIR, threads=_threads())


@dataclass(frozen=True)
class AnalysisRun:
    """An analysed upload: the decoded image, the result, and the annotated picture (JPEG)."""

    image: DecodedImage
    result: ImageResult
    enhance: str
    annotated_jpeg: bytes | None

    @property
    def annotated_data_url(self) -> str | None:
        if self.annotated_jpeg is None:
            return None
        return "data:image/jpeg;base64," + base64.b64encode(self.annotated_jpeg).decode("ascii")


@dataclass(frozen=True)
class IndexedFace:
    index: int
    face: DetectedFace


@dataclass(frozen=True)
class Detection:
    image: DecodedImage
    faces: list[DetectedFace]
    detector: str
    millis: float

    @property
    def indexed_faces(self) -> list[IndexedFace]:
        return [IndexedFace(index, face) for index, face in enumerate(self.faces)]

    @property
    def timings_ms(self) -> dict[str, float]:
        return {"detect": self.millis}


def upload_read(upload: UploadedFile[bytes]) -> bytes:
    """An uploaded file's bytes, refusing one over the limit without reading all of it.

    Django streams large uploads to a temporary file, so the file's size is known before it
    is read into memory.
    """
    limit = settings.UPLOAD_MAX_BYTES
    if upload.size is not None:
        check_file_size(upload.size, max_bytes=limit)
    upload.seek(0)
    data: bytes = upload.read(limit + 1)
    check_file_size(len(data), max_bytes=limit)
    return data


class Busy(RuntimeError):
    """The server is at its limit of this kind of work; the client should retry shortly."""

    code = "busy"
    http_status = 503

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# The lanes model work runs in (settings.ML_LANES, analysis.ml.registry): camera frames,
# analyses a person waits for, and long work (enhancement, batches, videos).
LIVE, INTERACTIVE, HEAVY = "live", "interactive", "heavy"
_LANE_RETRY_AFTER = {LIVE: 1, INTERACTIVE: 2, HEAVY: 10}
_lanes_ready = False


def _threads() -> int:
    """Threads for a model loaded now: the calling lane's (see settings.ML_LANES)."""
    return registry.lane_threads(settings.ML_THREADS)


_tensorflow_started = False
_tensorflow_lock = threading.Lock()


def _tensorflow_start() -> None:
    """Start TensorFlow's thread pools, at ML_THREADS, from the calling thread.

    Unlike PyTorch's, TensorFlow's pools are one per process, sized by the first model that
    loads and made by the first thread that runs an operation, which they take their priority
    from. Left to chance, the live lane (1 thread) would size them for everyone, or the heavy
    lane (nice +19) would make every lane's emotion scoring low-priority. So they are started
    here, before any lane's first call, from a thread of normal priority.
    """
    global _tensorflow_started  # noqa: PLW0603 - once per process.
    if _tensorflow_started:
        return
    with _tensorflow_lock, _loading("TensorFlow", ModelUnavailable):
        if _tensorflow_started:
            return
        import tensorflow as tf

        from analysis.ml.tf_runtime import set_tensorflow_threads

        set_tensorflow_threads(settings.ML_THREADS)
        tf.add(tf.constant(1.0), 1.0).numpy()
        _tensorflow_started = True


def lane_submit(lane: str, work: Callable[[], T], *, wait: float = 0.0) -> Future[T]:
    """Queue ``work`` in ``lane``; Busy (503 with Retry-After) when the lane is still full
    after ``wait`` seconds (a person waiting is told at once; a job may wait its turn). Called
    from a lane's own thread, ``work`` runs at once (a lane waiting on itself would never
    answer)."""
    global _lanes_ready  # noqa: PLW0603 - the process's lanes, created once from the settings.
    if registry.current_lane_name() is not None:
        done: Future[T] = Future()
        try:
            done.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, as a lane would
            done.set_exception(exc)
        return done
    if not _lanes_ready:
        registry.lanes_configure(
            {name: LaneSpec(**spec) for name, spec in settings.ML_LANES.items()}
        )
        _lanes_ready = True
    if lane == HEAVY:
        _tensorflow_start()  # here, in the caller's thread: the heavy lane's is niced
        run = work
    else:

        def run() -> T:
            _tensorflow_start()  # in the lane's own thread, at normal priority
            return work()

    try:
        return registry.lane(lane).submit(run, wait=wait)
    except LaneFull as exc:
        retry = _LANE_RETRY_AFTER.get(lane, 5)
        raise Busy(
            f"The server is busy with other {lane} work; try again in {retry} s.",
            retry_after=retry,
        ) from exc


def in_lane(lane: str, work: Callable[[], T], *, wait: float = 0.0) -> T:
    """Run ``work`` in ``lane`` and wait for it (inline when already in a lane)."""
    return lane_submit(lane, work, wait=wait).result()


# A job's model call waits this long for room in the heavy lane before it gives up.
JOB_LANE_WAIT = 600.0


# Pictures above this many pixels are decoded at most IMAGE_DECODE_CONCURRENCY at a time: each
# costs hundreds of megabytes while it is decoded, and a few small files can ask for many.
LARGE_DECODE_PIXELS = 4_000_000
DECODE_WAIT_SECONDS = 30.0
_decode_slots: threading.BoundedSemaphore | None = None
_decode_slots_lock = threading.Lock()


def _large_decode_slots() -> threading.BoundedSemaphore:
    global _decode_slots  # noqa: PLW0603 - one semaphore per process, sized from the settings.
    with _decode_slots_lock:
        if _decode_slots is None:
            _decode_slots = threading.BoundedSemaphore(settings.IMAGE_DECODE_CONCURRENCY)
        return _decode_slots


@contextmanager
def _decode_turn(pixels: int) -> Iterator[None]:
    """A turn to decode ``pixels`` pixels: at once for an ordinary picture, else one of the
    process's few large-decode slots, or Busy after DECODE_WAIT_SECONDS."""
    if pixels <= LARGE_DECODE_PIXELS:
        yield
        return
    slots = _large_decode_slots()
    if not slots.acquire(timeout=DECODE_WAIT_SECONDS):
        raise Busy("The server is decoding other large pictures; try again in a few seconds.")
    try:
        yield
    finally:
        slots.release()


def image_decode(*, data: bytes, max_pixels: int | None = None) -> DecodedImage:
    """Decode an upload with the configured limits; raises analysis.ml.images.ImageError,
    or Busy when too many large pictures are being decoded at once."""
    limit = min(max_pixels or settings.IMAGE_MAX_PIXELS, settings.IMAGE_MAX_PIXELS)
    return decode_image(
        data,
        max_bytes=settings.UPLOAD_MAX_BYTES,
        max_pixels=limit,
        decode_pixels=min(limit, settings.IMAGE_DECODE_MAX_PIXELS),
        gate=_decode_turn,
    )


def faces_detect(*, data: bytes, detector: str = "auto") -> Detection:
    """Find the faces of an uploaded image, left to right, without scoring them."""
    image = image_decode(data=data)

    def detect() -> Detection:
        # Detection alone needs no emotion model (loading one would cost seconds).
        model = _detector(detector)
        started = time.perf_counter()
        faces = pipeline.detect(image.pixels, model)
        millis = round((time.perf_counter() - started) * 1000, 1)
        return Detection(image=image, faces=faces, detector=model.name, millis=millis)

    return in_lane(INTERACTIVE, detect)


class IdentityOff(Exception):
    """Identity features are off for this user (they turn them on in the profile)."""

    code = "identity_off"
    http_status = 403

    def __init__(self) -> None:
        super().__init__(
            "Identity features are off for your account: turn them on in your profile "
            "(/accounts/profile/#identity, or PATCH /api/v1/me with identity_enabled) first."
        )


class NoFace(ImageError):
    code = "no_face"

    def __init__(self, which: str) -> None:
        super().__init__(f"No face was found in {which}.")


@dataclass(frozen=True)
class Verification:
    """Whether the largest faces of two pictures are of the same person."""

    same: bool
    similarity: float
    threshold: float
    faces: tuple[DetectedFace, DetectedFace]
    model: str


def identity_require(user: Any) -> None:
    """Raise IdentityOff unless ``user`` has turned identity features on."""
    if not getattr(user, "identity_enabled", False):
        raise IdentityOff


@dataclass(frozen=True)
class Signed:
    """The faces of a picture, left to right, with their signatures (faces x dimensions)."""

    image: DecodedImage
    faces: list[DetectedFace]
    signatures: npt.NDArray[np.float32]
    model: str


def real_faces(faces: Sequence[DetectedFace]) -> list[DetectedFace]:
    """The faces a detector found: a small picture analysed whole because none was found is
    fine for reading an expression, not for telling who someone is."""
    return [face for face in faces if face.how != "whole_image"]


def _found(image: DecodedImage) -> list[DetectedFace]:
    """The real faces the default detector finds in ``image`` (call it in a lane)."""
    return real_faces(pipeline.detect(image.pixels, _detector("auto")))


# The signature model that loaders.face_embedder loads: stored signatures are compared only
# with signatures of the same model.
SIGNATURE_MODEL = embeddings.DlibEmbedder.name


def _embedder() -> embeddings.FaceEmbedder:
    with _loading("The face signature model", ModelUnavailable):
        return loaders.face_embedder()


def faces_sign(
    *,
    data: bytes,
    choose: Callable[[list[DetectedFace]], Sequence[DetectedFace]] | None = None,
) -> Signed:
    """Find every face of an uploaded picture and compute its signature; with ``choose``, only
    of the faces it picks from those found (left to right; it may raise to refuse the picture,
    NoFace for one). Detection and signing are one turn of the lane, so a busy server refuses
    the request at once or serves it whole. Callers check the user's consent first
    (identity_require)."""
    image = image_decode(data=data)

    def sign() -> Signed:
        found = _found(image)
        # Already in the lane, so signatures_of runs at once.
        return signatures_of(image, found if choose is None else choose(found))

    return in_lane(INTERACTIVE, sign)


def signatures_of(
    image: DecodedImage,
    faces: Sequence[DetectedFace],
    *,
    lane: str = INTERACTIVE,
    lane_wait: float = 0.0,
) -> Signed:
    """The signatures of faces already found in ``image`` (at their boxes, in their order), so
    that a saved face can be found again among a person's appearances."""

    def sign() -> Signed:
        embedder = _embedder()
        found = list(faces)
        return Signed(image, found, embedder.embed(image.pixels, found), embedder.name)

    return in_lane(lane, sign, wait=lane_wait)


def faces_verify(*, data_a: bytes, data_b: bytes) -> Verification:
    """Compare the largest face of each picture by their signatures (analysis.ml.embeddings).

    Raises NoFace when a picture has no face, ImageError for a picture that cannot be read.
    Callers check the user's consent first (identity_require)."""
    images = (image_decode(data=data_a), image_decode(data=data_b))

    def verify() -> Verification:
        faces = []
        for name, image in zip(("image_a", "image_b"), images, strict=True):
            found = _found(image)
            if not found:
                raise NoFace(name)
            faces.append(largest(found))
        embedder = _embedder()
        signatures = [
            embedder.embed(image.pixels, [face])[0]
            for image, face in zip(images, faces, strict=True)
        ]
        similarity = embeddings.similarity(signatures[0], signatures[1])
        threshold = embeddings.SAME_PERSON_SIMILARITY
        return Verification(
            same=similarity >= threshold,
            similarity=similarity,
            threshold=threshold,
            faces=(faces[0], faces[1]),
            model=embedder.name,
        )

    return in_lane(INTERACTIVE, verify)


@dataclass(frozen=True)
class LivenessReading:
    """The faces of a picture, left to right, each with its liveness score."""

    faces: list[DetectedFace]
    # None for a picture read whole for want of a face: not scored.
    scores: list[float | None]
    threshold: float
    model: str

    def signals(self) -> list[dict[str, Any] | None]:
        """Per face, ``{"score", "live"}`` as the API gives it (None where it was not scored)."""
        return [
            None if score is None else {"score": round(score, 4), "live": score >= self.threshold}
            for score in self.scores
        ]


def _liveness() -> LivenessModel:
    with _loading("The liveness model", ModelUnavailable):
        return loaders.liveness_model(models_dir=settings.ML_MODELS_DIR, threads=_threads())


def _liveness_read(image: DecodedImage, faces: Sequence[DetectedFace]) -> LivenessReading:
    """The liveness scores of ``faces`` (None for a picture read whole for want of a face; call
    it in a lane)."""
    model = _liveness()
    scores = iter(model.scores(image.pixels, real_faces(faces)))
    return LivenessReading(
        list(faces),
        [None if face.how == "whole_image" else next(scores) for face in faces],
        model.threshold,
        model.name,
    )


def faces_liveness(*, data: bytes) -> LivenessReading:
    """Score every face of an uploaded picture for liveness (analysis.ml.liveness): a weak
    signal of whether it was photographed live or is a replica of a picture, never proof.

    Raises NoFace when the picture has no face. Callers check the user's consent first
    (identity_require)."""
    image = image_decode(data=data)

    def read() -> LivenessReading:
        found = _found(image)
        if not found:
            raise NoFace("the picture")
        return _liveness_read(image, found)

    return in_lane(INTERACTIVE, read)


def liveness_of(image: DecodedImage, faces: Sequence[DetectedFace]) -> LivenessReading | None:
    """The liveness scores of faces already found in ``image`` (None for a picture read whole
    for want of a face), or None when they cannot be had (no model, a full lane, a failure):
    it is an extra signal, and its absence must not fail the analysis it goes with."""
    try:
        return in_lane(INTERACTIVE, partial(_liveness_read, image, faces))
    except (FeatureUnavailable, Busy):
        logger.warning("No liveness signal: the liveness model is unavailable or busy")
    except Exception:
        logger.exception("No liveness signal: scoring failed")
    return None


def analysis_run(
    *,
    data: bytes,
    detector: str = "auto",
    passes: int = 10,
    enhance: str = "none",
    select: Sequence[int] | None = None,
    annotated: bool = True,
    max_pixels: int | None = None,
    extra_boxes: Sequence[Box] = (),
    lane: str = INTERACTIVE,
    lane_wait: float = 0.0,
) -> AnalysisRun:
    """Decode, detect, score the faces of an uploaded image, and draw the result.

    ``select`` keeps only the faces at these positions of the left-to-right order that
    :func:`faces_detect` gives for the same image and detector; ``extra_boxes`` adds faces
    marked by hand, numbered after the detected ones. ``lane``: where the model work runs
    (an enhancement always runs in the heavy lane), waiting up to ``lane_wait`` seconds for
    room there.
    """
    if enhance != "none":
        enhancer_check(enhance)  # missing weights: refused before anything is decoded
        lane = HEAVY
    started = time.perf_counter()
    image = image_decode(data=data, max_pixels=max_pixels)
    decode_ms = round((time.perf_counter() - started) * 1000, 1)
    result = in_lane(
        lane,
        wait=lane_wait,
        work=lambda: pipeline.analyse(
            image.pixels,
            detector=_detector(detector),
            classifier=_classifier(),
            passes=passes,
            select=select,
            enhancer=_enhancer(enhance),
            extra_boxes=extra_boxes,
        ),
    )
    result = result.with_timing("decode", decode_ms)
    jpeg = encode_jpeg(annotate(image.pixels, result.faces)) if annotated else None
    return AnalysisRun(image=image, result=result, enhance=enhance, annotated_jpeg=jpeg)


def models_warm_up() -> None:
    """Load the detectors and the classifier now, and run them once, instead of on first use."""
    import numpy as np

    blank = np.full((320, 320, 3), 128, dtype=np.uint8)

    def detector(name: str) -> None:
        pipeline.detect(blank, loaders.detector(name, threads=_threads()))

    def classifier(name: str) -> None:
        loaders.emotion_classifier(
            name, models_dir=settings.ML_MODELS_DIR, threads=_threads()
        ).warm_up()

    started = time.perf_counter()
    # One job per model, so that requests arriving meanwhile get their turn in between; the
    # live lane loads its own instances of the models that cannot be shared between threads.
    for lane in (INTERACTIVE, LIVE):
        for name in ("haar", "mtcnn", "blazeface"):
            in_lane(lane, partial(detector, name))
        for name in loaders.default_ensemble().members:
            in_lane(lane, partial(classifier, name))
    logger.info("Models warmed up in %.1f s", time.perf_counter() - started)


@dataclass
class LiveStream:
    """One camera connection: its settings, and its analyser (analysis.ml.live), which is
    created and used in the live lane only, one frame at a time."""

    detector: str
    passes: int
    max_pixels: int | None
    analyser: LiveAnalyser | None = None


@dataclass(frozen=True)
class LiveAnswer:
    image: DecodedImage
    frame: LiveFrame

    @property
    def run(self) -> AnalysisRun:
        """The frame as an analysis, for the serializers every face goes through."""
        return AnalysisRun(
            image=self.image, result=self.frame.result, enhance="none", annotated_jpeg=None
        )


def _live_analyser(stream: LiveStream) -> LiveAnalyser:
    # "blazeface" is the quick detector alone; "auto" adds its full detector once a second;
    # MTCNN or Haar, when chosen, run on every frame (on a small copy).
    quick = stream.detector in ("auto", "blazeface")
    with _loading("The face detector", ModelUnavailable):
        blazeface = loaders.blazeface_detector(threads=_threads()) if quick else None
    return LiveAnalyser(
        classifier=_classifier(),
        passes=stream.passes,
        full=None if stream.detector == "blazeface" else _detector(stream.detector),
        quick=blazeface,
    )


def live_frame(stream: LiveStream, data: bytes) -> LiveAnswer:
    """Decode and analyse one camera frame of ``stream`` (call it in the live lane)."""
    image = image_decode(data=data, max_pixels=stream.max_pixels)
    if stream.analyser is None:
        stream.analyser = _live_analyser(stream)
    return LiveAnswer(image=image, frame=stream.analyser.analyse(image.pixels, time.monotonic()))


Progress = Callable[[float, str], None]
"""Told how far work has come (0 to 1) with a message; may raise to stop the work."""


@dataclass(frozen=True)
class TrackedFace:
    track: int
    face: FaceResult


@dataclass(frozen=True)
class VideoFrame:
    t: float
    faces: list[TrackedFace]


@dataclass(frozen=True)
class TrackSummary:
    track: int
    first: float
    last: float
    frames: int
    emotions: dict[str, float]

    @property
    def dominant_emotion(self) -> str:
        return max(self.emotions, key=lambda name: self.emotions[name])


@dataclass(frozen=True)
class VideoAnalysis:
    info: VideoInfo
    fps: float
    frames: list[VideoFrame]
    tracks: list[TrackSummary]
    detector: str
    passes: int
    models: dict[str, str]
    compute_seconds: float


def _analyse_frame(pixels: RGBImage, *, detector: str, passes: int) -> ImageResult:
    return pipeline.analyse(
        pixels, detector=_detector(detector), classifier=_classifier(), passes=passes
    )


def video_check(path: Path) -> VideoInfo:
    """Refuse a file that is not a video that can be read, or is over the limits."""
    return video.probe(
        path, max_seconds=settings.VIDEO_MAX_SECONDS, max_pixels=settings.VIDEO_MAX_PIXELS
    )


def video_analyse(
    path: Path,
    *,
    fps: float = 5.0,
    detector: str = "auto",
    passes: int = 4,
    progress: Progress | None = None,
) -> VideoAnalysis:
    """Sample a video at ``fps`` frames per second, find and score the faces in each sampled
    frame, and follow each face across frames (a person keeps one track number)."""
    info = video_check(path)
    if progress is not None:
        progress(0.0, "Reading the video")
    expected = max(1, int(info.duration * min(fps, info.fps)) + 1)
    tracker = Tracker(max_gap=max(1.0, 3.0 / fps))
    cuts = video.SceneCuts()
    sums: dict[int, np.ndarray] = {}
    frames: list[VideoFrame] = []
    compute = 0.0
    models: dict[str, str] = {}
    frames_seen = video.sampled_frames(
        path,
        fps=fps,
        # A second past the end the header declares (and never past the limit).
        max_seconds=min(info.duration + 1.0, float(settings.VIDEO_MAX_SECONDS)),
        max_pixels=settings.VIDEO_MAX_PIXELS,
    )
    for frame in frames_seen:
        started = time.perf_counter()
        result = in_lane(
            HEAVY,
            partial(_analyse_frame, frame.pixels, detector=detector, passes=passes),
            wait=JOB_LANE_WAIT,
        )
        if cuts.is_cut(frame.pixels):
            tracker.cut()
        compute += time.perf_counter() - started
        models = dict(result.models)
        numbers = tracker.update(frame.t, [face.face.box for face in result.faces])
        tracked = [
            TrackedFace(track=number, face=face)
            for number, face in zip(numbers, result.faces, strict=True)
        ]
        for item in tracked:
            scores = np.array([item.face.emotions.probabilities[e] for e in EMOTIONS])
            sums[item.track] = sums.get(item.track, np.zeros(len(EMOTIONS))) + scores
        frames.append(VideoFrame(t=frame.t, faces=tracked))
        if progress is not None:
            done = min(0.99, len(frames) / expected)
            progress(done, f"Frame {len(frames)} of about {expected} ({frame.t:.1f} s)")
    # As in SORT, a track needs a second sighting to count: at 2 or more samples a second a
    # face that a person sees stays for more than one, a false detection seldom does.
    min_hits = 2 if fps >= 2 and len(frames) > 1 else 1
    kept = [track for track in tracker.tracks if track.hits >= min_hits]
    renumber = {track.number: new for new, track in enumerate(kept, start=1)}
    frames = [
        VideoFrame(
            t=item.t,
            faces=[
                TrackedFace(track=renumber[face.track], face=face.face)
                for face in item.faces
                if face.track in renumber
            ],
        )
        for item in frames
    ]
    tracks = []
    for track in kept:
        mean = sums[track.number] / track.hits
        mean /= mean.sum()
        tracks.append(
            TrackSummary(
                track=renumber[track.number],
                first=track.first,
                last=track.last,
                frames=track.hits,
                emotions={name: round(float(p), 4) for name, p in zip(EMOTIONS, mean, strict=True)},
            )
        )
    return VideoAnalysis(
        info=info,
        fps=fps,
        frames=frames,
        tracks=tracks,
        detector=detector,
        passes=passes,
        models=models,
        compute_seconds=round(compute, 2),
    )


@dataclass(frozen=True)
class EnhancedFace:
    """One face before and after enhancement, as JPEGs of the same region."""

    index: int
    before_jpeg: bytes
    after_jpeg: bytes


class _Watched:
    """An enhancer that reports each face's steps to ``progress`` and keeps before/after."""

    def __init__(self, inner: Enhancer, faces: int, progress: Progress | None) -> None:
        self.name = inner.name
        self._inner = inner
        self._faces = faces
        self._progress = progress
        self.pairs: list[tuple[RGBImage, RGBImage]] = []

    def enhance_face(
        self, image: RGBImage, face: DetectedFace, *, on_step: StepCallback | None = None
    ) -> tuple[RGBImage, DetectedFace]:
        number = len(self.pairs)
        started = time.perf_counter()

        def step(done: int, total: int) -> None:
            if self._progress is None:
                return
            fraction = (number + done / total) / self._faces
            spent = time.perf_counter() - started
            left = spent / done * (total - done) + spent / done * total * (self._faces - number - 1)
            self._progress(
                0.05 + 0.85 * fraction,
                f"Face {number + 1} of {self._faces}, step {done} of {total}; about "
                f"{max(1, round(left))} s left",
            )

        enlarged, moved = self._inner.enhance_face(image, face, on_step=step)
        region, _, _ = face_region(image, face)
        self.pairs.append((region, enlarged))
        return enlarged, moved


class _Stopped(Exception):
    """The caller's progress report asked the work to stop."""


def _reporting(
    pending: Future[ImageResult],
    steps: list[tuple[float, str]],
    progress: Progress | None,
    stop: threading.Event,
) -> ImageResult:
    """Wait for ``pending``, reporting its latest step to ``progress`` every quarter second;
    when ``progress`` raises, the work stops at its next step and the error is raised."""
    reported = 0
    while True:
        try:
            return pending.result(timeout=0.25)
        except FutureTimeout:
            pass
        if progress is None or len(steps) == reported:
            continue
        reported = len(steps)
        try:
            progress(*steps[-1])
        except BaseException:
            stop.set()
            # Still waiting behind other heavy work: it need not start at all.
            pending.cancel()
            with contextlib.suppress(_Stopped, CancelledError):
                pending.result()
            raise


def enhancement_run(
    *,
    data: bytes,
    enhance: str,
    detector: str = "auto",
    passes: int = 10,
    progress: Progress | None = None,
) -> tuple[AnalysisRun, list[EnhancedFace]]:
    """An analysis with every face enhanced first, reporting each face's steps to
    ``progress``; with each face's region before and after."""
    enhancer_check(enhance)
    inner = in_lane(HEAVY, lambda: _enhancer(enhance), wait=JOB_LANE_WAIT)
    if inner is None:
        raise EnhancementUnavailable(f"Unknown enhancer {enhance!r}.")
    image = image_decode(data=data)
    if progress is not None:
        progress(0.02, "Finding the faces")
    faces = in_lane(
        HEAVY, lambda: pipeline.detect(image.pixels, _detector(detector)), wait=JOB_LANE_WAIT
    )
    # The enhancer reports each step from the heavy lane; the report (a database write, a
    # message to the page) is made here, in the caller's thread, from the latest step.
    steps: list[tuple[float, str]] = []
    stop = threading.Event()

    def step(fraction: float, message: str) -> None:
        if stop.is_set():
            raise _Stopped()
        steps.append((fraction, message))

    watched = _Watched(inner, max(1, len(faces)), step)
    pending = lane_submit(
        HEAVY,
        wait=JOB_LANE_WAIT,
        work=lambda: pipeline.analyse(
            image.pixels,
            detector=_detector(detector),
            classifier=_classifier(),
            passes=passes,
            enhancer=watched,
            found=faces,
        ),
    )
    result = _reporting(pending, steps, progress, stop)
    if progress is not None:
        progress(0.95, "Scoring the enhanced faces")
    pairs = [
        EnhancedFace(index=i, before_jpeg=encode_jpeg(before), after_jpeg=encode_jpeg(after))
        for i, (before, after) in enumerate(watched.pairs)
    ]
    jpeg = encode_jpeg(annotate(image.pixels, result.faces))
    return AnalysisRun(image=image, result=result, enhance=enhance, annotated_jpeg=jpeg), pairs
