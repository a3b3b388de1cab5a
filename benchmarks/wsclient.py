"""A minimal websocket client (RFC 6455) for benchmarks and tests: an API client's handshake
with a token, binary frames out (masked, as a client must), whole text frames in."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
from typing import Any

import numpy as np


class WebSocket:
    def __init__(self, url: str, path: str, token: str, *, timeout: float = 30) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        nonce = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: Token {token}\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("the server closed the connection during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace").splitlines()[0])

    def send_binary(self, data: bytes) -> None:
        self._send(0x82, data)

    def send_text(self, text: str) -> None:
        self._send(0x81, text.encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            header = bytes([opcode, 0x80 | length])
        elif length < 1 << 16:
            header = bytes([opcode, 0x80 | 126]) + length.to_bytes(2, "big")
        else:
            header = bytes([opcode, 0x80 | 127]) + length.to_bytes(8, "big")
        mask = os.urandom(4)
        data = np.frombuffer(payload, dtype=np.uint8)
        key = np.resize(np.frombuffer(mask, dtype=np.uint8), len(data))
        self.sock.sendall(header + mask + (data ^ key).tobytes())

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("the server closed the websocket")
            data += chunk
        return data

    def receive_json(self) -> Any:
        """The next text message, parsed (control frames are skipped)."""
        return json.loads(self.receive_text())

    def receive_text(self) -> str:
        """The next text message (control frames are skipped)."""
        while True:
            first, second = self._exactly(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(self._exactly(2), "big")
            elif length == 127:
                length = int.from_bytes(self._exactly(8), "big")
            payload = self._exactly(length)
            if first & 0x0F == 0x8:
                raise ConnectionError("the server closed the websocket")
            if first & 0x0F >= 8:
                continue  # a ping or pong
            if first != 0x81:
                raise ConnectionError(f"not one whole text frame: {first:#x}")
            return payload.decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send(0x88, (1000).to_bytes(2, "big"))
        self.sock.close()
