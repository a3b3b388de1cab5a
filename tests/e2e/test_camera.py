from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from analysis import services as analysis_services
from analysis.ml import registry
from analysis.ml.images import decode_image
from analysis.ml.registry import LaneSpec
from archive.models import SavedAnalysis
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import launch, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.ml, pytest.mark.django_db(transaction=True)]


def write_y4m(image: np.ndarray, path: Path, frames: int = 10) -> None:
    """A YUV4MPEG2 video of a still picture, which Chromium plays as its fake webcam."""
    height, width = image.shape[:2]
    yuv = cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420)
    with path.open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            handle.write(b"FRAME\n")
            handle.write(yuv.tobytes())


@pytest.fixture
def camera_page(
    playwright: Any, testdata: Path, tmp_path: Path, asgi_live_server: str, alice: Any
) -> Iterator[Any]:
    video = tmp_path / "face.y4m"
    write_y4m(decode_image((testdata / "scenes" / "astronaut.png").read_bytes()).pixels, video)
    # A browser of its own: the fake webcam is chosen when Chromium starts.
    browser = launch(
        playwright,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    sign_in(context, asgi_live_server, alice)
    yield context.new_page()
    browser.close()


def test_the_live_camera_shows_the_face_and_captures_it(
    camera_page: Any, asgi_live_server: str
) -> None:
    page = camera_page
    page.goto(asgi_live_server + "/camera/")
    page.get_by_role("button", name="Start camera").click()
    face = page.locator(".live-face").first
    face.wait_for(timeout=60_000)
    assert face.get_attribute("data-emotion") == "happy"
    # The overlay has a box drawn on it.
    painted = page.evaluate(
        "() => { const c = document.getElementById('overlay');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"
    )
    assert painted > 100
    page.locator("#stats").filter(has_text="frames/s").wait_for(timeout=30_000)
    # The face keeps its number, and its timeline has lines drawn.
    assert face.get_attribute("data-track") == "1"
    page.wait_for_function(
        "() => { const c = document.querySelector('.live-face .timeline');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n > 200; }",
        timeout=30_000,
    )
    page.screenshot(path=str(REPO_ROOT / "docs" / "screenshots" / "camera.png"))

    # A full live lane: the page says so and goes on once there is room again.
    lane = registry.lane(analysis_services.LIVE)
    spec, release = lane.spec, threading.Event()
    lane.spec = LaneSpec(threads=spec.threads, capacity=1)
    try:
        # The page keeps one frame in flight: wait for the lane's one place.
        lane.submit(release.wait, wait=10)
        page.locator("#camera-error").filter(has_text="busy; retrying").wait_for(timeout=30_000)
    finally:
        release.set()
        lane.spec = spec
    page.locator("#camera-error").wait_for(state="hidden", timeout=30_000)

    page.fill("#capture-name", "Astronaut live")
    page.get_by_role("button", name="Capture").click()
    page.locator("#capture-status a").wait_for(timeout=60_000)
    saved = SavedAnalysis.objects.get()
    assert saved.name == "Astronaut live"
    assert saved.source == "camera"
    assert saved.dominant_emotion == "happy"
    page.get_by_role("button", name="Stop").click()
