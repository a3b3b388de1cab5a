"""What the site changes in Daphne, installed by :func:`install` (fersite.asgi calls it, before
Daphne's server starts):

- **Bodies over the limit are refused before they are read.** Daphne (through Twisted) reads
  a whole body to a temporary file, then hands all of it to the application at once, in
  memory; an ASGI middleware can answer 413 only after that. The request refuses a body from
  its declared length as soon as the headers are in, and stops one without a length (chunked)
  once it passes the limit. :mod:`fersite.body_limit` stays the limit for other ASGI servers.
- **Form bodies are left to Django.** Twisted's request parses every multipart or URL-encoded
  body into ``request.args`` with the e-mail parser, which Daphne never reads: a second copy
  of each upload, made in the event loop (about 9 ms of a 465 KB photo's answer; for a 100 MB video,
  1.2 GB and 2.3 s in which nothing else was answered), and Twisted's own HTML page instead of
  the API's JSON error for a multipart body that parser refuses.
- **Responses go no faster than the client takes them.** Daphne writes each part of a response
  into Twisted's buffer at once, so a large download to a slow client (a paused video) was
  read into memory whole. The request now registers with Twisted as a producer, and the
  application's ``send`` of a part waits while Twisted's buffer for that client is full (at
  most SEND_STALL_SECONDS). A HEAD request gets the headers alone (Daphne sent the body too).
- **Daphne's own errors under /api/ are the API's JSON error**, not its HTML page.
- **An application that fails once its response started has the connection cut**, so that
  the client sees a short body. Daphne tried to start an error page, which raised inside its
  application checker: the connection was left open and the checker stopped for the process.
- **Websocket messages up to WEBSOCKET_MAX_MESSAGE_BYTES** (Daphne's own limit is 1 MB, under
  the camera's 4 MB frames), **and no more than WEBSOCKET_QUEUE of them waiting.** Daphne
  queues every message of a client for the application without end; while the application
  was busy with one, a client that kept sending filled the server's memory. Past
  the limit (a read from the network may bring a few more) the server stops reading from that
  client, and TCP holds it back.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from daphne import http_protocol, ws_protocol
from daphne import server as daphne_server
from twisted.internet import reactor

from fersite.body_limit import has_credentials, request_body_limit, too_large_body

# After a refusal, the rest of the body is read and dropped for at most this long, and at most
# this much of it, before the connection closes.
LINGER_SECONDS = 2.0
LINGER_BYTES = 64 * 1024 * 1024
# A client that takes no more of a response for this long is disconnected (as a proxy's send
# timeout would): a paused video asks again, with a range, when it plays on.
SEND_STALL_SECONDS = 60.0
# A websocket's messages that may wait for the application before its client is no longer
# read from (the camera's latest frame replaces the one before, so it never needs many), and
# how often a paused websocket looks whether they were taken.
WEBSOCKET_QUEUE = 4
WEBSOCKET_POLL_SECONDS = 0.02


class _Pacer:
    """A push producer for Twisted, told when a client's buffer fills and empties; a
    response's sender waits on ``writable`` meanwhile."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()

    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's name.
        self.writable.clear()

    def resumeProducing(self) -> None:  # noqa: N802 - Twisted's name.
        self.writable.set()

    def stopProducing(self) -> None:  # noqa: N802 - Twisted's name.
        self.writable.set()


class LimitedWebRequest(http_protocol.WebRequest):
    """Daphne's request: it refuses bodies over the site's limit before reading them, leaves
    form bodies to Django, and paces its response to the client (see the module)."""

    _refused = False
    _body_received = 0
    _discarded = 0
    _closer: Any = None
    _closed_by_us = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(*args, **kwargs)
        self._pacer = _Pacer()

    def handle_reply(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and self.producer is None:
            self.registerProducer(self._pacer, True)
        elif message["type"] == "http.response.body" and self.method == b"HEAD":
            # Daphne writes a body past Twisted's guard against one for HEAD (on a kept-alive
            # connection, it would be read as the next answer): the headers alone, and the
            # request ends, which tells the application that the client is gone.
            if self.finished:
                return
            message = {"type": "http.response.body"}
        super().handle_reply(message)

    async def writable(self) -> None:
        """Return once the client has room for more of the response, or is gone; one that
        takes nothing for SEND_STALL_SECONDS is disconnected."""
        if self._pacer.writable.is_set():
            return
        try:
            await asyncio.wait_for(self._pacer.writable.wait(), SEND_STALL_SECONDS)
        except TimeoutError:
            self.transport.abortConnection()

    def finish(self) -> None:
        # Twisted wants the producer gone before a request ends.
        if self.producer is not None:
            self.unregisterProducer()
        self._pacer.stopProducing()
        super().finish()

    def connectionLost(self, reason: Any) -> None:  # noqa: N802 - Twisted's name.
        # A sender waiting for room must not wait for a client that has gone.
        self._pacer.stopProducing()
        super().connectionLost(reason)

    def handle_exception(self, exception: BaseException) -> None:
        """An application that failed after its response started (a stored file that could not
        be read on): the client's connection is cut, so that it sees a short body. Daphne
        answered with an error page, whose start raised inside Daphne's application checker:
        that checker then stopped for the process (no more reaping of finished applications,
        no close timeout) and the connection was left open."""
        if self._response_started:
            self.transport.abortConnection()
            return
        super().handle_exception(exception)

    def basic_error(self, status: int, status_text: bytes, body: str) -> None:
        """Daphne's own errors (a header, path or query it cannot read; an application that
        failed) are HTML pages; under /api/ they are the API's JSON error."""
        if not (self.path or b"").startswith(b"/api/"):
            super().basic_error(status, status_text, body)
            return
        code = "validation_error" if status < 500 else "server_error"
        answer = json.dumps({"error": {"code": code, "message": f"{body.rstrip('.')}."}}).encode()
        headers = [(b"Content-Type", b"application/json"), (b"Content-Length", b"%d" % len(answer))]
        self.handle_reply({"type": "http.response.start", "status": status, "headers": headers})
        self.handle_reply({"type": "http.response.body", "body": answer})

    def _limit(self) -> int:
        # The request line is parsed before the headers; Twisted hands it to the request only
        # after the body, so it is read from the channel here.
        path = getattr(self.channel, "_path", b"") or b""
        method = getattr(self.channel, "_command", b"") or b""
        return request_body_limit(
            path.split(b"?", 1)[0].decode("latin-1"),
            method=method.decode("latin-1"),
            credentials=has_credentials(
                (name, value)
                for name, values in self.requestHeaders.getAllRawHeaders()
                for value in values
            ),
        )

    def gotLength(self, length: int | None) -> None:  # noqa: N802 - Twisted's name.
        limit = self._limit()
        if length is not None and length > limit:
            # Twisted answers "Expect: 100-continue" right after this call: the client must
            # not be invited to send the body it has just been refused.
            self.requestHeaders.removeHeader(b"expect")
            self._refuse(limit)
        super().gotLength(0 if self._refused else length)

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - Twisted's name.
        if self._refused:
            # Discarded, not stored; past the limit of what is worth reading, close now.
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES:
                self._close()
            return
        self._body_received += len(data)
        limit = self._limit()
        if self._body_received > limit:
            self._refuse(limit)
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:  # noqa: N802
        if not self._refused:
            super().requestReceived(command, path, version)

    def _refuse(self, limit: int) -> None:
        if self._refused:
            return
        self._refused = True
        body = too_large_body(limit)
        head = (
            b"HTTP/1.1 413 Content Too Large\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n"
            b"Connection: close\r\n\r\n"
        )
        channel: Any = self.channel
        if channel is not None:
            channel.transport.write(head + body)
            # A lingering close: closing with unread input makes the kernel send a reset,
            # which can destroy the 413 before the client reads it. So the rest of the body is
            # read and dropped for a moment (LINGER_SECONDS, LINGER_BYTES), then the
            # connection closes.
            self._closer = cast(Any, reactor).callLater(LINGER_SECONDS, self._close)

    def _close(self) -> None:
        closer = self._closer
        if closer is not None and closer.active():
            closer.cancel()
        self._closer = None
        channel: Any = self.channel
        if channel is not None and not self._closed_by_us:
            self._closed_by_us = True
            channel.loseConnection()


class PacedWebSocketProtocol(ws_protocol.WebSocketProtocol):
    """Daphne's websocket, which stops reading from its client while more than
    WEBSOCKET_QUEUE of its messages wait for the application, until half of them are taken."""

    _paused = False

    def onMessage(self, payload: bytes, isBinary: bool) -> None:  # noqa: N802, N803 - Autobahn's names.
        super().onMessage(payload, isBinary)
        queue = getattr(self, "application_queue", None)
        if queue is not None and queue.qsize() > WEBSOCKET_QUEUE and not self._paused:
            self._paused = True
            self.transport.pauseProducing()
            self._resume_when_taken()

    def _resume_when_taken(self) -> None:
        if self.application_queue.qsize() > WEBSOCKET_QUEUE // 2 and self.transport.connected:
            cast(Any, reactor).callLater(WEBSOCKET_POLL_SECONDS, self._resume_when_taken)
            return
        self._paused = False
        self.transport.resumeProducing()


class LimitedWebSocketFactory(ws_protocol.WebSocketFactory):
    """Daphne's websocket factory, with the site's limit on a message and on a frame, and
    websockets that stop reading while their messages wait."""

    protocol = PacedWebSocketProtocol

    def setProtocolOptions(self, **options: Any) -> None:  # noqa: N802 - Autobahn's name.
        from django.conf import settings

        limit = int(settings.WEBSOCKET_MAX_MESSAGE_BYTES)
        options.update(maxMessagePayloadSize=limit, maxFramePayloadSize=limit)
        super().setProtocolOptions(**options)


_daphne_handle_reply = daphne_server.Server.handle_reply


async def _paced_handle_reply(self: Any, protocol: Any, message: dict[str, Any]) -> None:
    """Daphne's server hands a message of the application to its connection; a part of a
    response that more parts follow returns once the client has room for them."""
    await _daphne_handle_reply(self, protocol, message)
    if message["type"] == "http.response.body" and message.get("more_body"):
        writable = getattr(protocol, "writable", None)
        if writable is not None:
            await writable()


def install() -> None:
    """Make Daphne build LimitedWebRequest instead of its own request and its websocket factory
    LimitedWebSocketFactory (its server takes both from these modules when it starts, after
    the application is imported), and pace the application's responses."""
    http_protocol.WebRequest = LimitedWebRequest
    cast(Any, daphne_server).WebSocketFactory = LimitedWebSocketFactory
    cast(Any, daphne_server.Server).handle_reply = _paced_handle_reply
