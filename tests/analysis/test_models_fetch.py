"""manage.py models_fetch against a local HTTP server standing in for the npm registry."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import LazySettings
from django.core.management import CommandError, call_command

from analysis.management.commands import models_fetch
from analysis.ml.weights import FACEAPI_FOLDER


def _archive(source: Path) -> bytes:
    """A package archive laid out like @vladmandic/face-api's, from the installed weights."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for target, member in models_fetch.MEMBERS.items():
            tar.add(source / target, arcname=member)
    return buffer.getvalue()


@pytest.fixture
def registry(settings: LazySettings) -> Iterator[tuple[str, list[str], dict[str, bytes]]]:
    """A registry URL, the paths asked of it, and what it serves (set "archive")."""
    served: dict[str, bytes] = {}
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(served["archive"])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked, served
    finally:
        server.shutdown()


@pytest.fixture
def installed(settings: LazySettings) -> Path:
    folder = Path(settings.ML_MODELS_DIR) / FACEAPI_FOLDER
    assert models_fetch.in_place(folder), "run scripts/install.sh first"
    return folder


def test_weights_in_place_are_not_fetched_again(
    settings: LazySettings, tmp_path: Path, installed: Path, registry: tuple
) -> None:
    url, asked, _ = registry
    shutil.copytree(installed, tmp_path / FACEAPI_FOLDER)
    settings.ML_MODELS_DIR = tmp_path
    call_command("models_fetch", registry=url, stdout=io.StringIO())
    assert asked == []


def test_missing_weights_are_fetched_unpacked_and_checked(
    settings: LazySettings,
    tmp_path: Path,
    installed: Path,
    registry: tuple,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, asked, served = registry
    served["archive"] = _archive(installed)
    monkeypatch.setattr(
        models_fetch, "ARCHIVE_SHA256", hashlib.sha256(served["archive"]).hexdigest()
    )
    settings.ML_MODELS_DIR = tmp_path
    call_command("models_fetch", registry=url, stdout=io.StringIO())
    assert asked == ["/@vladmandic/face-api/-/face-api-1.7.15.tgz"]
    assert models_fetch.in_place(tmp_path / FACEAPI_FOLDER)
    assert (tmp_path / FACEAPI_FOLDER / "LICENSE").read_bytes() == (
        installed / "LICENSE"
    ).read_bytes()


def test_an_archive_that_is_not_the_pinned_one_is_refused_and_nothing_written(
    settings: LazySettings, tmp_path: Path, installed: Path, registry: tuple
) -> None:
    url, _, served = registry
    served["archive"] = _archive(installed)  # same files, but not the published archive
    settings.ML_MODELS_DIR = tmp_path
    with pytest.raises(CommandError, match="not the expected archive"):
        call_command("models_fetch", registry=url, stdout=io.StringIO())
    assert not (tmp_path / FACEAPI_FOLDER).exists()
