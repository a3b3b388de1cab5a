"""Fixtures shared by the whole suite."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client

from accounts.models import User
from analysis.ml.images import decode_image
from analysis.ml.pipeline import analyse
from analysis.ml.types import Box
from analysis.services import AnalysisRun
from archive.models import SavedAnalysis
from archive.services import analysis_save
from fersite.celery import worker_command
from tests.analysis.fakes import FakeDetector, fake_scorer
from tests.factories import UserFactory

REPO_ROOT = Path(__file__).resolve().parent.parent
HAPPY = {
    "angry": 0.02,
    "disgust": 0.01,
    "fear": 0.02,
    "happy": 0.8,
    "neutral": 0.1,
    "sad": 0.03,
    "surprise": 0.02,
}
SAD = {
    "angry": 0.05,
    "disgust": 0.01,
    "fear": 0.04,
    "happy": 0.02,
    "neutral": 0.13,
    "sad": 0.7,
    "surprise": 0.05,
}
TESTDATA = REPO_ROOT.parent / "shared" / "testdata"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: LazySettings, tmp_path: Path) -> None:
    """Every test writes its uploads into its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "base_url": None},
        },
    }


@pytest.fixture(autouse=True)
def _channel_layer_per_test(monkeypatch: Any) -> None:
    """Every test gets a channel layer of its own. The process keeps one per alias, and
    channels-redis lets only one event loop receive on it at a time: a socket of the
    in-process server (asgi_live_server), still closing in that server's loop after its test,
    made the next test's consumers fail with "Two event loops are trying to receive()"."""
    from channels.layers import channel_layers

    monkeypatch.setattr(channel_layers, "backends", {})


@pytest.fixture(autouse=True)
def _no_tensorflow_for_stand_ins(request: pytest.FixtureRequest, monkeypatch: Any) -> None:
    """Tests with stand-in models need no TensorFlow: the lanes skip starting its pools (an
    import of several seconds) unless the test runs the real models (marked ``ml``)."""
    if request.node.get_closest_marker("ml") is None:
        from analysis import services

        monkeypatch.setattr(services, "_tensorflow_started", True)


@pytest.fixture
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.fail(f"The shared test data is missing: expected it at {TESTDATA}")
    return TESTDATA


def login_verified(client: Client, user: User) -> None:
    """Log ``user`` in on ``client`` with a session that has passed the second factor."""
    from django_otp import DEVICE_ID_SESSION_KEY

    from accounts.services import email_device_for

    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = email_device_for(user).persistent_id
    session.save()


@pytest.fixture
def alice(db: None):  # type: ignore[no-untyped-def]
    return UserFactory(email="alice@example.org", username="alice")


@pytest.fixture
def bob(db: None):  # type: ignore[no-untyped-def]
    return UserFactory(email="bob@example.org", username="bob")


@pytest.fixture
def make_run(testdata: Path) -> Callable[..., AnalysisRun]:
    def make(emotions: dict[str, float] | None = None, faces: int = 2) -> AnalysisRun:
        image = decode_image((testdata / "scenes" / "astronaut.png").read_bytes())
        boxes = [Box(40 + 200 * i, 60, 150, 150) for i in range(faces)]
        result = analyse(
            image.pixels,
            detector=FakeDetector(boxes),
            classifier=fake_scorer(emotions or HAPPY),
            passes=3,
        )
        return AnalysisRun(image=image, result=result, enhance="none", annotated_jpeg=None)

    return make


@pytest.fixture
def save_for(make_run: Callable[..., AnalysisRun]) -> Callable[..., SavedAnalysis]:
    def save(
        owner: User, name: str = "", emotions: dict[str, float] | None = None, **kwargs: object
    ) -> SavedAnalysis:
        return analysis_save(owner=owner, run=make_run(emotions), name=name, **kwargs)  # type: ignore[arg-type]

    return save


@pytest.fixture(scope="session")
def asgi_live_server(django_db_blocker: Any) -> Iterator[str]:
    """The ASGI application (HTTP and websockets) served by Daphne in a thread, for the pages
    that need websockets; pytest-django's live_server speaks only WSGI."""
    import socket
    import threading
    import time

    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server
    from twisted.internet import reactor

    from fersite.asgi import application

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = Server(
        application=application,
        endpoints=build_endpoint_description_strings(host="127.0.0.1", port=port),
        signal_handlers=False,
    )
    thread = threading.Thread(target=server.run, name="daphne", daemon=True)
    thread.start()
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    reactor.callFromThread(reactor.stop)  # type: ignore[attr-defined]
    thread.join(timeout=10)


class CeleryWorker:
    """A real `celery -A fersite worker` process on the test database and broker."""

    def __init__(self, media: Path, database_url: str) -> None:
        self.media = media
        self.database_url = database_url
        self.process: subprocess.Popen[bytes] | None = None
        self.log = media.parent / "worker.log"

    def start(self) -> None:
        import os

        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fersite.settings.test",
            "DATABASE_URL": self.database_url,
            "MEDIA_ROOT": str(self.media),
        }
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own worker command
                worker_command(f"tests-{os.getpid()}@%h"),
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with self.log.open("rb") as log:
                log.seek(offset)
                if b" ready." in log.read():
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"The Celery worker did not start: see {self.log}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


def database_url_for_processes() -> str:
    """DATABASE_URL of the test database, for processes the tests start (after its setup)."""
    import os
    from urllib.parse import urlsplit, urlunsplit

    from django.db import connection

    url = urlsplit(os.environ.get("DATABASE_URL", ""))
    if url.scheme not in ("mysql", "mariadb"):
        pytest.fail("This test needs the test command's MariaDB (DATABASE_URL).")
    return urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CeleryWorker]:
    """One worker process for the session (jobs tests use the same media folder)."""
    from django.conf import settings as django_settings

    if not django_settings.CELERY_BROKER_URL:
        pytest.fail("Jobs tests need a broker: run them with the test command (REDIS_URL).")
    worker = CeleryWorker(tmp_path_factory.mktemp("jobs") / "media", database_url_for_processes())
    worker.media.mkdir(parents=True, exist_ok=True)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def job_media(settings: LazySettings, celery_worker: CeleryWorker) -> CeleryWorker:
    """The test's uploads go where the worker reads them."""
    settings.MEDIA_ROOT = celery_worker.media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(celery_worker.media), "base_url": None},
        },
    }
    return celery_worker
