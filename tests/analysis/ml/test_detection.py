from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from analysis.ml.detection import DETECTOR_MIN_FACE, find_faces
from analysis.ml.images import decode_image
from analysis.ml.types import Box, DetectedFace
from tests.analysis.fakes import FakeDetector


def _image(width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), 120, dtype=np.uint8)


def test_faces_come_left_to_right_in_image_coordinates() -> None:
    detector = FakeDetector([Box(300, 40, 80, 80), Box(20, 50, 90, 90)])
    faces = find_faces(_image(400, 300), detector)
    assert [face.box for face in faces] == [Box(20, 50, 90, 90), Box(300, 40, 80, 80)]
    assert all(face.how == "detected" for face in faces)


def test_a_large_photo_is_detected_on_a_smaller_copy_and_boxes_are_mapped_back() -> None:
    detector = FakeDetector([Box(100, 100, 200, 200)])
    faces = find_faces(_image(4096, 2048), detector)
    assert detector.calls == [(1024, 512)]
    assert faces[0].box == Box(400, 400, 800, 800)


def test_a_tight_crop_is_framed_and_searched_again() -> None:
    detector = FakeDetector(only_if_framed=True)
    faces = find_faces(_image(400, 400), detector)
    assert len(detector.calls) == 2
    # The face found in the framed picture, mapped back and clipped to the original picture.
    assert faces[0].how == "framed"
    assert faces[0].box.x >= 0
    assert faces[0].box.x + faces[0].box.w <= 400


def _real_face_crop(testdata: Path, width: int, height: int) -> np.ndarray:
    photo = decode_image((testdata / "faces" / "Alain_Cervantes_0001.jpg").read_bytes()).pixels
    rows, cols = photo.shape[:2]
    # The middle of a portrait: the face itself, with little around it.
    crop = photo[rows // 4 : rows * 3 // 4, cols // 4 : cols * 3 // 4]
    return np.ascontiguousarray(cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA))


def test_a_small_face_shaped_picture_with_no_face_found_is_analysed_whole(
    testdata: Path,
) -> None:
    faces = find_faces(_real_face_crop(testdata, 64, 80), FakeDetector([]))
    assert len(faces) == 1
    assert faces[0].how == "whole_image"
    assert faces[0].box == Box(0, 0, 64, 80)
    # A face crop at FER2013's size, grey, is analysed whole too.
    grey = cv2.cvtColor(_real_face_crop(testdata, 48, 48), cv2.COLOR_RGB2GRAY)
    assert len(find_faces(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), FakeDetector([]))) == 1


@pytest.mark.parametrize(
    ("width", "height", "colour"),
    [(1, 1, (128, 128, 128)), (48, 48, (128, 128, 128)), (200, 200, (0, 200, 0))],
)
def test_a_blank_picture_is_not_taken_for_a_face(
    width: int, height: int, colour: tuple[int, int, int]
) -> None:
    blank = np.empty((height, width, 3), dtype=np.uint8)
    blank[:] = colour
    assert find_faces(blank, FakeDetector([])) == []


def test_a_smooth_gradient_is_not_taken_for_a_face() -> None:
    ramp = np.linspace(0, 255, 200).astype(np.uint8)
    card = np.ascontiguousarray(np.repeat(np.tile(ramp, (200, 1))[:, :, None], 3, axis=2))
    assert find_faces(card, FakeDetector([])) == []


def test_a_photo_with_no_face_gives_no_face() -> None:
    assert find_faces(_image(600, 400), FakeDetector([])) == []
    # A thin strip is not a face crop either, however small.
    assert find_faces(_image(200, 30), FakeDetector([])) == []


class _SmallThenFramed:
    """A small face (a false one, say) on the picture itself; on the framed picture, the face
    that fills its middle."""

    name = "fake"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray, *, min_size: int = 20) -> list[DetectedFace]:
        self.calls += 1
        if self.calls == 1:
            return [DetectedFace(Box(10, 10, 25, 25), 0.99, "fake")]
        height, width = image.shape[:2]
        return [DetectedFace(Box(width // 4, height // 4, width // 2, height // 2), 0.99, "fake")]


def test_a_picture_with_only_small_faces_found_is_still_searched_framed() -> None:
    detector = _SmallThenFramed()
    faces = find_faces(_image(400, 400), detector)
    assert detector.calls == 2
    assert sorted(face.how for face in faces) == ["detected", "framed"]
    # A face the size of a readable one is enough to show the picture is no tight crop.
    readable = FakeDetector([Box(10, 10, 40, 40)])
    find_faces(_image(400, 400), readable)
    assert len(readable.calls) == 1


def test_overlapping_detections_count_once() -> None:
    detector = FakeDetector([Box(10, 10, 100, 100), Box(12, 12, 100, 100)])
    assert len(find_faces(_image(400, 300), detector)) == 1


def test_faces_are_looked_for_down_to_the_detectors_smallest_in_photos_of_any_size() -> None:
    # Faces too small to read well are still found (and marked so): a face missed is lost to
    # the user, one found small is not.
    for width, height in [(800, 600), (1536, 1024), (4096, 3072), (120, 150)]:
        detector = FakeDetector([])
        find_faces(_image(width, height), detector)
        assert set(detector.min_sizes) == {DETECTOR_MIN_FACE}, (width, height)
