"""The request body limit inside Daphne, which otherwise receives a whole body before the
application sees the request.

Daphne (through Twisted) reads the entire body to a temporary file, then hands all of it to the
application's queue at once, in memory; an ASGI middleware can answer 413 only after that. This
request class refuses a body from its declared length as soon as the headers are in, and stops
one without a length (chunked) once it passes the limit, so the server never holds more than
the limit. :func:`install` makes Daphne use it; :mod:`fersite.body_limit` stays the limit for
any other ASGI server.

Daphne's websockets take messages up to the site's WEBSOCKET_MAX_MESSAGE_BYTES (Daphne's own
default is 1 MB, under the camera's 4 MB frames).

The request class also stops Twisted from parsing form bodies. By default Twisted's request parses
every multipart or URL-encoded body into ``request.args`` with the e-mail parser before Daphne
sees it: a second copy of each upload that Daphne never reads (it hands the raw body to
Django), 6 ms of a 465 KB photo's answer on the development machine, and Twisted's own HTML
page, not the API's JSON error, for a multipart body that its parser refuses.
"""

from __future__ import annotations

from typing import Any, cast

from daphne import http_protocol, ws_protocol
from daphne import server as daphne_server
from twisted.internet import reactor

from fersite.body_limit import has_credentials, request_body_limit, too_large_body

# After a refusal, the rest of the body is read and dropped for at most this long, and at most
# this much of it, before the connection closes.
LINGER_SECONDS = 2.0
LINGER_BYTES = 64 * 1024 * 1024


class LimitedWebRequest(http_protocol.WebRequest):
    """Daphne's request, refusing bodies over the site's limit before reading them, and
    leaving form bodies to Django."""

    _refused = False
    _body_received = 0
    _discarded = 0
    _closer: Any = None
    _closed_by_us = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(*args, **kwargs)

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


class LimitedWebSocketFactory(ws_protocol.WebSocketFactory):
    """Daphne's websocket factory, with the site's limit on a message and on a frame."""

    def setProtocolOptions(self, **options: Any) -> None:  # noqa: N802 - Autobahn's name.
        from django.conf import settings

        limit = int(settings.WEBSOCKET_MAX_MESSAGE_BYTES)
        options.update(maxMessagePayloadSize=limit, maxFramePayloadSize=limit)
        super().setProtocolOptions(**options)


def install() -> None:
    """Make Daphne build LimitedWebRequest instead of its own request, and its websocket
    factory LimitedWebSocketFactory (Daphne's server takes both from these modules when it
    starts, after the application is imported)."""
    http_protocol.WebRequest = LimitedWebRequest
    cast(Any, daphne_server).WebSocketFactory = LimitedWebSocketFactory
