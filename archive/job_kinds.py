"""What each kind of job does: checking its upload when it is submitted, then running it.

- video: a video file, sampled at ``fps``; faces tracked across frames; the result holds every
  sampled frame's faces and a summary per track, and the video is kept to be played back.
- batch: a ZIP (or several photos), analysed one by one into a collection of the archive; the
  photos stay hidden (pending) until the last is done, and are deleted if the job stops.
- enhance: one photo, every face enhanced (GFPGAN or Real-ESRGAN) step by step, then scored;
  the faces before and after are kept for the result page.
"""

from __future__ import annotations

import collections
import contextlib
import shutil
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from accounts.models import User
from analysis import services as analysis
from analysis.api.serializers import AnalysisOutput
from analysis.ml.images import ImageError
from analysis.ml.types import EMOTIONS
from archive.jobs import (
    JobFileTooLarge,
    JobRefused,
    Outcome,
    Progress,
    TooManyJobs,
    job_submit,
)
from archive.models import Collection, Job, SavedAnalysis
from archive.people import signatures_for
from archive.services import analysis_save, stored_files_delete

VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".webm", ".mkv"}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
# A ZIP member that expands more than this many times is refused: photos hardly compress, a
# ZIP bomb expands thousands of times.
ZIP_MAX_RATIO = 100
FPS_CHOICES = (1, 2, 5, 10, 15, 30)


def _storage() -> Storage:
    return Job._meta.get_field("input").storage


def _folder(owner: User) -> str:
    return f"jobs/{owner.pk}/{uuid.uuid4().hex}"


@contextlib.contextmanager
def _local_copy(upload: UploadedFile[bytes], suffix: str) -> Iterator[Path]:
    """A path to the upload on this machine's disk (large uploads already are)."""
    temporary = getattr(upload, "temporary_file_path", None)
    if callable(temporary):
        yield Path(temporary())
        return
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        upload.seek(0)
        shutil.copyfileobj(upload, handle)
        handle.flush()
        yield Path(handle.name)


@contextlib.contextmanager
def _stored_copy(name: str, suffix: str) -> Iterator[Path]:
    """A path to a stored file on this machine's disk: the file itself for local storage,
    a temporary copy for object storage (S3)."""
    storage = _storage()
    try:
        yield Path(storage.path(name))
        return
    except NotImplementedError:
        pass
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle, storage.open(name, "rb") as source:
        shutil.copyfileobj(source, handle)
        handle.flush()
        yield Path(handle.name)


def _check_size(upload: UploadedFile[bytes]) -> None:
    limit = settings.JOB_UPLOAD_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise JobFileTooLarge(f"The file is larger than the limit of {limit / 1_048_576:.0f} MB.")
    if upload.size == 0:
        raise JobRefused("The file is empty.")


def _suffix(name: str, allowed: set[str], what: str) -> str:
    suffix = PurePosixPath(name or "").suffix.lower()
    if suffix not in allowed:
        raise JobRefused(f"{what} must be one of {', '.join(sorted(allowed))} files.")
    return suffix


def _clean_name(name: str, fallback: str) -> str:
    return (name or "").strip()[:200] or fallback


def job_create(
    *,
    owner: User,
    kind: str,
    files: Sequence[UploadedFile[bytes]],
    options: dict[str, Any],
    name: str = "",
) -> Job:
    """Check an upload for a job of ``kind`` and queue the job; raises JobRefused (a 4xx)
    with a clear message for a bad file, and TooManyJobs past JOBS_MAX_ACTIVE."""
    active = Job.objects.filter(
        owner=owner, state__in=[Job.State.QUEUED, Job.State.RUNNING]
    ).count()
    if active >= settings.JOBS_MAX_ACTIVE:
        raise TooManyJobs(
            f"You have {active} jobs queued or running; wait for one to finish or cancel one."
        )
    if not files:
        raise JobRefused("file: a file is required.")
    for upload in files:
        _check_size(upload)
    folder = _folder(owner)
    storage = _storage()
    job = Job(owner=owner, kind=kind, options=options)
    if kind == Job.Kind.VIDEO:
        upload = files[0]
        suffix = _suffix(upload.name or "", VIDEO_EXTENSIONS, "A video")
        with _local_copy(upload, suffix) as path:
            info = analysis.video_check(path)
        job.options = {**options, "duration": info.duration}
        job.name = _clean_name(name, upload.name or "Video")
        upload.seek(0)
        job.input.name = storage.save(f"{folder}/input{suffix}", File(upload))
        job.input_bytes = upload.size or 0
    elif kind == Job.Kind.BATCH:
        job.name = _clean_name(
            name, (files[0].name or "Photos") if len(files) == 1 else f"{len(files)} photos"
        )
        job.input.name, job.input_bytes, count = _batch_input(files, folder, storage)
        job.options = {**options, "photos": count}
    elif kind == Job.Kind.ENHANCE:
        analysis.enhancer_check(options.get("enhance", "realesrgan"))
        upload = files[0]
        data = analysis.upload_read(upload)
        analysis.image_decode(data=data)  # Refuse a bad picture now, not in the job.
        job.name = _clean_name(name, upload.name or "Enhancement")
        suffix = PurePosixPath(upload.name or "").suffix.lower() or ".jpg"
        job.input.name = storage.save(f"{folder}/input{suffix[:8]}", ContentFile(data))
        job.input_bytes = len(data)
    else:
        raise JobRefused(f"kind: {kind!r} is not one of video, batch, enhance.")
    with transaction.atomic():
        job.save()
        job_submit(job)
    return job


# Batches -------------------------------------------------------------------------------------


# A ZIP's directory is read whole (an object per entry) before any entry can be checked: its
# size and entry count are read from its end record first, and a ZIP that declares far more
# entries than a batch may hold is refused unread.
ZIP_DIRECTORY_MAX_BYTES = 4 * 1024 * 1024


def _check_zip_directory(path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - (65535 + 22)))
        tail = handle.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) - end < 22:
        raise JobRefused("The file is not a ZIP that can be read.")
    entries = int.from_bytes(tail[end + 10 : end + 12], "little")
    directory = int.from_bytes(tail[end + 12 : end + 16], "little")
    limit = 2 * settings.BATCH_MAX_FILES + 100
    if entries > limit or directory > ZIP_DIRECTORY_MAX_BYTES:
        raise JobRefused(
            f"The ZIP lists {entries} entries; a batch may hold at most "
            f"{settings.BATCH_MAX_FILES} photos."
        )


# What reading a damaged or unusual ZIP (or one of its members) may raise.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def _zip_photos(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The photos of a ZIP, checked from its directory before anything is extracted."""
    photos = []
    total = 0
    for info in archive.infolist():
        path = PurePosixPath(info.filename)
        if info.is_dir() or path.name.startswith(".") or "__MACOSX" in path.parts:
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        if info.flag_bits & 0x1:
            raise JobRefused(f"{path.name} is encrypted: ZIPs with passwords are not read.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise JobRefused(
                f"{path.name} is compressed in a way that is not read (only stored or deflated)."
            )
        if info.file_size > settings.UPLOAD_MAX_BYTES:
            raise JobRefused(
                f"{path.name} expands to {info.file_size / 1_048_576:.0f} MB; each photo may "
                f"be at most {settings.UPLOAD_MAX_BYTES / 1_048_576:.0f} MB."
            )
        if info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1) and info.file_size > 1 << 20:
            raise JobRefused(
                f"{path.name} expands {info.file_size // max(info.compress_size, 1)} times: "
                "the ZIP looks like a ZIP bomb and was not extracted."
            )
        total += info.file_size
        photos.append(info)
    if total > settings.BATCH_MAX_BYTES:
        raise JobRefused(
            f"The photos expand to {total / 1_048_576:.0f} MB; a batch may hold at most "
            f"{settings.BATCH_MAX_BYTES / 1_048_576:.0f} MB."
        )
    if len(photos) > settings.BATCH_MAX_FILES:
        raise JobRefused(
            f"The ZIP holds {len(photos)} photos; a batch may hold at most "
            f"{settings.BATCH_MAX_FILES}."
        )
    if not photos:
        raise JobRefused("The ZIP holds no photos (JPEG, PNG, WebP, BMP or TIFF files).")
    return photos


def _batch_input(
    files: Sequence[UploadedFile[bytes]], folder: str, storage: Storage
) -> tuple[str, int, int]:
    """Store a batch's photos as one ZIP: the uploaded ZIP as it is, or the photos packed."""
    if len(files) == 1 and PurePosixPath(files[0].name or "").suffix.lower() == ".zip":
        upload = files[0]
        with _local_copy(upload, ".zip") as path:
            _check_zip_directory(path)
            try:
                with zipfile.ZipFile(path) as archive:
                    count = len(_zip_photos(archive))
            except JobRefused:
                raise
            except ZIP_ERRORS as exc:
                raise JobRefused("The file is not a ZIP that can be read.") from exc
        upload.seek(0)
        return storage.save(f"{folder}/photos.zip", File(upload)), upload.size or 0, count
    if len(files) > settings.BATCH_MAX_FILES:
        raise JobRefused(f"At most {settings.BATCH_MAX_FILES} photos make a batch.")
    total = sum(upload.size or 0 for upload in files)
    if total > settings.BATCH_MAX_BYTES:
        raise JobRefused(
            f"The photos weigh {total / 1_048_576:.0f} MB; a batch may hold at most "
            f"{settings.BATCH_MAX_BYTES / 1_048_576:.0f} MB."
        )
    with tempfile.TemporaryFile() as packed:
        with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_STORED) as archive:
            seen: collections.Counter[str] = collections.Counter()
            for upload in files:
                name = PurePosixPath(upload.name or "photo.jpg").name
                _suffix(name, IMAGE_EXTENSIONS, "A photo")
                seen[name] += 1
                if seen[name] > 1:
                    name = f"{seen[name]}-{name}"
                upload.seek(0)
                with archive.open(name, "w") as member:
                    shutil.copyfileobj(upload, member)
        packed.seek(0)
        return storage.save(f"{folder}/photos.zip", File(packed)), total, len(files)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes: never more than its directory entry declared (zipfile stops there,
    and checks the CRC), which _zip_photos checked against the limits."""
    with archive.open(info) as member:
        return member.read(info.file_size)


def batch_run(job: Job, progress: Progress) -> Outcome:
    options = job.options
    collection = Collection.objects.create(owner=job.owner, name=job.name)
    Job.objects.filter(pk=job.pk).update(collection=collection)
    job.collection = collection
    skipped: list[dict[str, str]] = []
    dominant: collections.Counter[str] = collections.Counter()
    faces = analysed = 0
    with _stored_copy(str(job.input.name), ".zip") as path, zipfile.ZipFile(path) as archive:
        photos = _zip_photos(archive)
        for number, info in enumerate(photos, start=1):
            name = PurePosixPath(info.filename).name
            progress((number - 1) / len(photos), f"Photo {number} of {len(photos)}: {name}")
            try:
                data = _read_member(archive, info)
            except ZIP_ERRORS:
                skipped.append({"name": name, "error": "It is damaged in the ZIP."})
                continue
            try:
                run = analysis.analysis_run(
                    data=data,
                    detector=options.get("detector", "auto"),
                    passes=int(options.get("tta", 10)),
                    annotated=False,
                    lane=analysis.HEAVY,
                    lane_wait=analysis.JOB_LANE_WAIT,
                )
            except (ImageError, analysis.Busy) as exc:
                skipped.append({"name": name, "error": str(exc)})
                continue
            analysis_save(
                owner=job.owner,
                run=run,
                name=name,
                source=SavedAnalysis.Source.UPLOAD,
                collection=collection,
                pending=True,
                signatures=signatures_for(
                    owner=job.owner,
                    run=run,
                    lane=analysis.HEAVY,
                    lane_wait=analysis.JOB_LANE_WAIT,
                ),
            )
            analysed += 1
            faces += len(run.result.faces)
            dominant.update(face.emotions.dominant for face in run.result.faces)
    total = sum(dominant.values())

    def commit(locked: Job) -> None:
        collection.analyses.filter(pending=True).update(pending=False)

    return Outcome(
        result={
            "collection": collection.pk,
            "photos": len(photos),
            "analysed": analysed,
            "skipped": skipped,
            "faces": faces,
            "dominant_emotions": {name: dominant.get(name, 0) for name in EMOTIONS},
            "dominant_share": {
                name: round(dominant.get(name, 0) / total, 4) if total else 0.0 for name in EMOTIONS
            },
        },
        files={},
        message=f"{analysed} photos analysed, {faces} faces",
        commit=commit,
    )


# Videos --------------------------------------------------------------------------------------


def _video_face(track: int, face: Any) -> dict[str, Any]:
    return {
        "track": track,
        "box": face.face.box.as_list(),
        "emotions": face.emotions.probabilities,
        "dominant_emotion": face.emotions.dominant,
        "confidence": round(face.emotions.confidence, 4),
        "verdict": face.quality.verdict,
    }


def video_run(job: Job, progress: Progress) -> Outcome:
    options = job.options
    suffix = PurePosixPath(str(job.input.name)).suffix
    with _stored_copy(str(job.input.name), suffix) as path:
        result = analysis.video_analyse(
            path,
            fps=float(options.get("fps", 5)),
            detector=options.get("detector", "auto"),
            passes=int(options.get("tta", 4)),
            progress=progress,
        )
    body = {
        "duration": result.info.duration,
        "fps": result.fps,
        "video": {
            "width": result.info.width,
            "height": result.info.height,
            "fps": result.info.fps,
            "codec": result.info.codec,
        },
        "detector": result.detector,
        "passes": result.passes,
        "models": result.models,
        "compute_seconds": result.compute_seconds,
        "frames": [
            {"t": frame.t, "faces": [_video_face(item.track, item.face) for item in frame.faces]}
            for frame in result.frames
        ],
        "tracks": [
            {
                "track": track.track,
                "first": track.first,
                "last": track.last,
                "frames": track.frames,
                "dominant_emotion": track.dominant_emotion,
                "emotions": track.emotions,
            }
            for track in result.tracks
        ],
    }
    return Outcome(
        result=body,
        files={"video": str(job.input.name)},
        message=f"{len(result.frames)} frames, {len(result.tracks)} tracks",
    )


# Enhancement ---------------------------------------------------------------------------------


def enhance_run(job: Job, progress: Progress) -> Outcome:
    options = job.options
    with _storage().open(str(job.input.name), "rb") as handle:
        data = handle.read(settings.UPLOAD_MAX_BYTES + 1)
    run, pairs = analysis.enhancement_run(
        data=data,
        enhance=options.get("enhance", "realesrgan"),
        detector=options.get("detector", "auto"),
        passes=int(options.get("tta", 10)),
        progress=progress,
    )
    storage = _storage()
    folder = str(PurePosixPath(str(job.input.name)).parent)
    written: dict[str, str] = {}
    try:
        if run.annotated_jpeg is not None:
            written["annotated"] = storage.save(
                f"{folder}/annotated.jpg", ContentFile(run.annotated_jpeg)
            )
        for pair in pairs:
            for side, data_ in (("before", pair.before_jpeg), ("after", pair.after_jpeg)):
                written[f"face{pair.index}-{side}"] = storage.save(
                    f"{folder}/face{pair.index}-{side}.jpg", ContentFile(data_)
                )
    except BaseException:
        stored_files_delete(storage, list(written.values()))
        raise
    body = AnalysisOutput(run).data
    body.pop("annotated_image", None)
    body["faces_enhanced"] = len(pairs)
    save = bool(options.get("save"))

    signatures = (
        signatures_for(
            owner=job.owner, run=run, lane=analysis.HEAVY, lane_wait=analysis.JOB_LANE_WAIT
        )
        if save
        else None
    )

    def commit(locked: Job) -> None:
        if save:
            locked.analysis = analysis_save(
                owner=job.owner, run=run, name=job.name, signatures=signatures
            )

    return Outcome(
        result=dict(body),
        files=written,
        message=f"{len(pairs)} face{'s' if len(pairs) != 1 else ''} enhanced",
        commit=commit,
        cleanup=partial(stored_files_delete, storage, list(written.values())),
    )
