"""The live camera websocket (/ws/camera/), as DESIGN.md describes it.

The client sends each frame as one binary message holding a JPEG. At most one frame per
connection is analysed at a time; frames that arrive meanwhile replace each other, so the
newest wins and latency never grows. The analysis runs in the process's live lane (see
analysis.ml.registry), never on the event loop: a full lane answers the frame with a ``busy``
error and its Retry-After, and a socket that closes takes its queued frame out of the lane.
A capture (a full analysis, saved to the archive) runs beside the live frames, one at a time.
Each connection keeps its stream's state (faces followed from frame to frame, their smoothed
scores; analysis.ml.live).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from accounts.services import user_group
from accounts.websocket import CLOSE_UNAUTHORIZED, ReauthorizingSocket
from analysis.ml.images import ImageError
from analysis.ml.loaders import DETECTORS
from analysis.ml.tta import MAX_PASSES
from analysis.services import Busy, FeatureUnavailable
from archive.models import SavedAnalysis
from archive.services import usage_record
from camera import services

logger = logging.getLogger(__name__)

# How often an open socket checks that its session or token still stands.
AUTH_RECHECK_SECONDS = 5.0
# How often a socket adds its analysed frames to the user's usage counts.
USAGE_REPORT_SECONDS = 30.0
# How often a stream checks that its owner's people (and consent) are as it read them.
NAMES_RECHECK_SECONDS = 5.0
# How long a closing socket waits for its capture to be saved (Daphne cancels a closing
# application after 10 s).
CAPTURE_CLOSE_SECONDS = 8.0


class CameraConsumer(AsyncWebsocketConsumer, ReauthorizingSocket):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the socket ended (a handler that failed skips disconnect()), its tasks
            # end here, inside the socket's own thread context (fersite.socket_threads), which
            # must not be left by a task that still runs.
            tasks = [getattr(self, "worker", None), getattr(self, "capturing", None)]
            running = [task for task in tasks if task is not None and not task.done()]
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.user = user
        self.latest: bytes | None = None
        self.last_good_frame: bytes | None = None
        self.latest_number = 0
        self.received = 0
        self.dropped = 0
        self.passes = services.LIVE_PASSES
        self.detector = "auto"
        self.stream = services.stream_start(detector=self.detector, passes=self.passes)
        self.names: services.LiveNames | None = None
        await self._names_read()
        # Each stream's number goes with its answers, so the page can drop a late answer of
        # the stream that new settings replaced.
        self.stream_number = 1
        self.worker: asyncio.Task[None] | None = None
        # A capture runs beside the live frames, one at a time: awaited in receive(), it held
        # every frame that arrived meanwhile until its full analysis and save were done.
        self.capturing: asyncio.Task[None] | None = None
        self.authorized_at = time.monotonic()
        # Live frames count in the usage page, written a few times a minute, not per frame.
        self.unreported_frames = 0
        self.unreported_faces = 0
        self.reported_at = time.monotonic()
        # A new password or e-mail address closes the user's sockets through this group.
        self.group = user_group(user.pk)
        if self.channel_layer is not None:
            await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._send(
            {
                "type": "ready",
                "passes": self.passes,
                "detector": self.detector,
                "stream": self.stream_number,
            }
        )

    async def _names_read(self, current: services.LiveNames | None = None) -> None:
        """Read the stream's names afresh (``current`` is kept while the people and consent
        are unchanged)."""
        self.names_checked = time.monotonic()
        try:
            self.names = await database_sync_to_async(services.live_names)(
                owner=self.user, current=current
            )
        except Exception:
            # Naming is extra: without a fresh reading it stops (consent cannot be checked),
            # and the next check tries again; the stream goes on.
            logger.exception("Reading the camera's names failed")
            self.names = None

    async def disconnect(self, code: int) -> None:
        closing = time.monotonic()
        worker = getattr(self, "worker", None)
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        group = getattr(self, "group", None)
        if group is not None and self.channel_layer is not None:
            await self.channel_layer.group_discard(group, self.channel_name)
        if getattr(self, "unreported_frames", 0):
            await self._report_usage()
        capturing = getattr(self, "capturing", None)
        if capturing is not None:
            # A capture the user asked for is saved even when they close the page at once,
            # unless it takes longer than Daphne gives a closing application (10 s); it ends
            # here either way, inside the socket's thread context.
            left = CAPTURE_CLOSE_SECONDS - (time.monotonic() - closing)
            try:
                await asyncio.wait_for(capturing, max(0.0, left))
            except TimeoutError:
                # Its analysis or save may still finish in its thread; nothing answers it.
                logger.warning(
                    "Stopped waiting for a capture %s s after its socket closed",
                    CAPTURE_CLOSE_SECONDS,
                )
            except Exception:
                logger.exception("A camera capture failed")

    async def _report_usage(self) -> None:
        frames, faces = self.unreported_frames, self.unreported_faces
        self.reported_at = time.monotonic()
        try:
            await database_sync_to_async(usage_record)(
                owner=self.user, source=SavedAnalysis.Source.CAMERA, analyses=frames, faces=faces
            )
        except Exception:
            # Counting is not worth a broken stream: the frames stay counted for the next try.
            logger.exception("Recording the camera's usage failed")
            return
        # Only what was written is taken off: frames that arrived meanwhile still count.
        self.unreported_frames -= frames
        self.unreported_faces -= faces

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None:
            await self._frame(bytes_data)
        elif text_data is not None:
            await self._command(text_data)

    async def _frame(self, data: bytes) -> None:
        if not await self.still_authorized(AUTH_RECHECK_SECONDS):
            return
        if time.monotonic() - self.names_checked > NAMES_RECHECK_SECONDS:
            # Identity features turned off, or people enrolled, renamed or deleted meanwhile.
            await self._names_read(current=self.names)
        self.received += 1
        if len(data) > services.MAX_FRAME_BYTES:
            await self._error("file_too_large", "A frame may be at most 4 MB.")
            return
        if self.latest is not None:
            self.dropped += 1
        self.latest, self.latest_number = data, self.received
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        while self.latest is not None:
            data, number = self.latest, self.latest_number
            self.latest = None
            stream = self.stream_number
            try:
                # Cancelling this task (the socket closed) cancels the frame in the lane.
                result = await asyncio.wrap_future(
                    services.frame_submit(self.stream, data, names=self.names)
                )
            except Exception as exc:  # noqa: BLE001 - every failure is answered, see _failed
                await self._failed(exc, "This frame could not be analysed.", frame=number)
                continue
            self.last_good_frame = data
            self.unreported_frames += 1
            self.unreported_faces += len(result["faces"])
            if time.monotonic() - self.reported_at > USAGE_REPORT_SECONDS:
                await self._report_usage()
            await self._send(
                {
                    "type": "faces",
                    "frame": number,
                    "stream": stream,
                    "dropped": self.dropped,
                    **result,
                }
            )

    async def _command(self, text: str) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            await self._error("validation_error", "Messages must be JSON objects.")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "capture":
            if self.capturing is not None and not self.capturing.done():
                await self._error("busy", "A capture is being saved.", retry_after=1, capture=True)
                return
            name = message.get("name")
            self.capturing = asyncio.create_task(
                self._capture(name[:200] if isinstance(name, str) else "")
            )
        elif kind == "settings":
            await self._settings(message)
        else:
            await self._error("validation_error", f"Unknown message type {kind!r}.")

    async def _settings(self, message: dict[str, Any]) -> None:
        passes = message.get("passes", self.passes)
        detector = message.get("detector", self.detector)
        if not isinstance(passes, int) or not 1 <= passes <= MAX_PASSES:
            await self._error("validation_error", f"passes must be 1 to {MAX_PASSES}.")
            return
        if detector not in DETECTORS:
            await self._error(
                "validation_error", f"detector must be one of {', '.join(DETECTORS)}."
            )
            return
        if (passes, detector) != (self.passes, self.detector):
            # A new stream: faces are followed afresh (numbered from 1) with the new settings.
            # Its names are read first, so that no frame meets the new stream with the old
            # stream's names (whose track numbers mean other faces).
            await self._names_read()
            self.passes, self.detector = passes, detector
            self.stream = services.stream_start(detector=detector, passes=passes)
            self.stream_number += 1
        await self._send(
            {"type": "ready", "passes": passes, "detector": detector, "stream": self.stream_number}
        )

    async def _capture(self, name: str) -> None:
        try:
            # Saving acts for the user: make sure they have not logged out or revoked the
            # token since the socket opened (and again before the save, below).
            if not await self.still_authorized(0):
                return
            # The last frame that analysed cleanly: a newer one may not decode.
            frame = self.last_good_frame
            if frame is None:
                await self._error("no_frame", "No frame has arrived yet to capture.", capture=True)
                return
            # Whether the saved faces keep signatures follows the consent as it is now.
            await database_sync_to_async(self.user.refresh_from_db)(fields=["identity_enabled"])
            captured = await sync_to_async(services.frame_capture_run, thread_sensitive=False)(
                owner=self.user, data=frame, detector=self.detector
            )
            if not await self.still_authorized(0):
                return
            # Not on the socket's own thread, where every frame's dispatch would wait for it.
            save = database_sync_to_async(services.frame_capture_save, thread_sensitive=False)
            saved = await save(owner=self.user, frame=captured, name=name)
        except Exception as exc:  # noqa: BLE001 - every failure is answered, see _failed
            await self._failed(exc, "The frame could not be saved.", capture=True)
            return
        await self._send({"type": "saved", "analysis_id": saved.pk, "name": saved.name})

    async def _failed(self, exc: Exception, message: str, **extra: Any) -> None:
        """Answer a failed frame or capture: with the error's own code where the client can
        act on it (a bad picture, a busy server, a missing model), else as a server error with
        ``message`` (and the details in the log)."""
        if isinstance(exc, ImageError):
            await self._error(exc.code, exc.message, **extra)
        elif isinstance(exc, Busy):
            await self._error(exc.code, str(exc), retry_after=exc.retry_after, **extra)
        elif isinstance(exc, FeatureUnavailable):
            await self._error(exc.code, str(exc), **extra)
        else:
            logger.error("A camera socket failed: %s", message, exc_info=exc)
            await self._error("server_error", message, **extra)

    async def _error(self, code: str, message: str, **extra: Any) -> None:
        await self._send({"type": "error", "error": {"code": code, "message": message}, **extra})

    async def _send(self, body: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(body))
