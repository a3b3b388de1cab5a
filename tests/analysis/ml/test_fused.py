"""The auto detector's rule for faces MTCNN is unsure of, with stand-ins for both detectors (the
real ones on real photos: test_real_models)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from analysis.ml.blazeface import INPUT_SIDE, MIN_SCORE
from analysis.ml.fused import SURE_PROBABILITY, UNSURE_PROBABILITY, FusedDetector
from analysis.ml.types import Box, DetectedFace, Landmarks, RGBImage


class _Cascade:
    """Answers the given faces, and records the threshold it was asked for."""

    name = "mtcnn"

    def __init__(self, faces: list[DetectedFace]) -> None:
        self.faces = faces
        self.thresholds: list[float] = []

    def detect(
        self, image: RGBImage, *, min_size: int = 20, min_probability: float = 0.9
    ) -> list[DetectedFace]:
        self.thresholds.append(min_probability)
        return [face for face in self.faces if face.score >= min_probability]


class _BrightSquares:
    """Finds the bright squares of the windows it is shown (pictures INPUT_SIDE long), and
    nothing on whole pictures."""

    name = "blazeface"

    def __init__(self) -> None:
        self.windows: list[tuple[int, int]] = []

    def detect(
        self, image: RGBImage, *, min_size: int = 20, border: float = 0.0, mirror: bool = False
    ) -> list[Any]:
        if max(image.shape[:2]) != INPUT_SIDE or border or mirror:
            return []
        self.windows.append(image.shape[:2])
        mask = (image[:, :, 0] > 150).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        return [
            DetectedFace(Box(*map(int, stats[label, :4])), 0.8, "blazeface")
            for label in range(1, count)
        ]


def _picture(bright: list[Box]) -> RGBImage:
    picture = np.full((400, 600, 3), 100, dtype=np.uint8)
    for box in bright:
        picture[box.y : box.y + box.h, box.x : box.x + box.w] = 230
    return picture


def test_a_face_mtcnn_is_unsure_of_is_kept_only_where_blazeface_finds_it_too() -> None:
    seen = Box(300, 100, 30, 30)  # a face both see
    unseen = Box(100, 200, 30, 30)  # MTCNN's alone
    edged = Box(0, 190, 30, 30)  # both see it; its window is cut by the picture's edge
    sure = Box(450, 250, 60, 60)  # MTCNN is sure: BlazeFace is not asked
    unsure = (UNSURE_PROBABILITY + SURE_PROBABILITY) / 2
    cascade = _Cascade(
        [
            DetectedFace(seen, unsure, "mtcnn"),
            DetectedFace(unseen, unsure, "mtcnn"),
            DetectedFace(edged, unsure, "mtcnn"),
            DetectedFace(sure, SURE_PROBABILITY, "mtcnn"),
            DetectedFace(Box(200, 50, 30, 30), UNSURE_PROBABILITY - 0.01, "mtcnn"),
        ]
    )
    squares = _BrightSquares()
    detector = FusedDetector(cascade, squares)  # type: ignore[arg-type]

    found = detector.detect(_picture([seen, edged]))

    assert cascade.thresholds == [UNSURE_PROBABILITY]
    assert sorted(face.box.as_list() for face in found) == sorted(
        box.as_list() for box in (seen, edged, sure)
    )
    assert len(squares.windows) == 3  # one per unsure face
    # The window 3 faces wide around the face at the edge is cut to 2 faces wide, and scaled
    # to BlazeFace's input on its longer side.
    assert (INPUT_SIDE, INPUT_SIDE * 2 // 3) in squares.windows


def test_confirmation_maps_the_window_back_to_the_picture() -> None:
    face = Box(300, 100, 30, 30)
    detector = FusedDetector(_Cascade([]), _BrightSquares())  # type: ignore[arg-type]
    assert detector.confirmed(_picture([face]), face)
    # A bright square beside the face, in the same window, is another face.
    assert not detector.confirmed(_picture([Box(340, 100, 30, 30)]), face)


class _Reaching:
    """On a window (a picture INPUT_SIDE long), answers the given boxes, in its pixels."""

    name = "blazeface"

    def __init__(self, boxes: list[Box]) -> None:
        self.boxes = boxes

    def detect(self, image: RGBImage, **_: Any) -> list[DetectedFace]:
        if max(image.shape[:2]) != INPUT_SIDE:
            return []
        return [DetectedFace(box, 0.8, "blazeface") for box in self.boxes]


def test_a_face_around_the_box_does_not_confirm_it_but_one_past_the_edge_does() -> None:
    # A bright square three times the unsure box's side, around it: the whole window is
    # bright, so BlazeFace's face is the window; the box lies inside it but is not that face
    # (MTCNN also scores parts of faces: a nose and mouth).
    part = Box(330, 130, 30, 30)
    detector = FusedDetector(_Cascade([]), _BrightSquares())  # type: ignore[arg-type]
    assert not detector.confirmed(_picture([Box(300, 100, 90, 90)]), part)

    # A face cut by the left edge: MTCNN's box stops at it, BlazeFace's reaches 90 px past it.
    # The window around the box is 75x120 px of the picture (x 0-75, y 60-180), enlarged 1.6
    # times; BlazeFace's face there is (-90, 100, 120, 40) in the picture's pixels.
    cut = Box(0, 100, 30, 40)
    reaching = FusedDetector(_Cascade([]), _Reaching([Box(-144, 64, 192, 64)]))  # type: ignore[arg-type]
    assert reaching.confirmed(np.zeros((400, 600, 3), np.uint8), cut)


class _TileFaces:
    """On a square picture (a tile), answers the faces ``faces`` gives for its side, and
    records the tile's shape; on any other picture, nothing."""

    name = "blazeface"

    def __init__(self, faces: Callable[[int], list[DetectedFace]]) -> None:
        self.faces = faces
        self.tiles: list[tuple[int, int]] = []

    def detect(self, image: RGBImage, *, min_size: int = 20, **_: Any) -> list[DetectedFace]:
        height, width = image.shape[:2]
        if height != width:
            return []
        self.tiles.append((height, width))
        return self.faces(width)


def _middle_and_cut(side: int) -> list[DetectedFace]:
    """A sure face in the tile's middle and an unsure one cut by its right edge."""
    return [
        DetectedFace(Box(side // 2 - 20, 100, 40, 40), MIN_SCORE + 0.2, "blazeface"),
        DetectedFace(Box(side - 20, 200, 40, 40), MIN_SCORE - 0.05, "blazeface"),
    ]


def _top_left_with_landmarks(side: int) -> list[DetectedFace]:
    """One face near the tile's top left, with landmarks."""
    eyes = Landmarks((20.0, 30.0), (40.0, 30.0), (30.0, 40.0), (22.0, 50.0), (38.0, 50.0))
    return [DetectedFace(Box(10, 20, 40, 40), MIN_SCORE + 0.2, "blazeface", eyes)]


def test_a_wide_picture_is_also_read_in_square_tiles_mapped_back_to_it() -> None:
    tiles = _TileFaces(_middle_and_cut)
    detector = FusedDetector(_Cascade([]), tiles)  # type: ignore[arg-type]

    found = detector.tiled(np.zeros((400, 1000, 3), np.uint8), min_size=20)

    # Three 400 px tiles, at 0, 300 and 600: the sure face of each, in the picture's pixels;
    # the unsure one only where the tile's edge is the picture's own (the last tile).
    assert len(tiles.tiles) == 3
    assert sorted(face.box.as_list() for face in found) == [
        [180, 100, 40, 40],
        [480, 100, 40, 40],
        [780, 100, 40, 40],
        [980, 200, 40, 40],
    ]
    # A picture nearly square is not tiled.
    assert detector.tiled(np.zeros((400, 500, 3), np.uint8), min_size=20) == []
    assert len(tiles.tiles) == 3


def test_a_tall_picture_is_tiled_down_its_length_with_landmarks_mapped_back() -> None:
    tiles = _TileFaces(_top_left_with_landmarks)
    detector = FusedDetector(_Cascade([]), tiles)  # type: ignore[arg-type]

    found = detector.tiled(np.zeros((1000, 400, 3), np.uint8), min_size=20)

    assert tiles.tiles == [(400, 400)] * 3
    assert [face.box.as_list() for face in found] == [
        [10, 20, 40, 40],
        [10, 320, 40, 40],
        [10, 620, 40, 40],
    ]
    last = found[-1].landmarks
    assert last is not None
    assert last.left_eye == (20.0, 630.0)
    assert last.mouth_right == (38.0, 650.0)


def test_tiles_overlap_where_the_picture_is_a_whole_number_of_them_long() -> None:
    tiles = _TileFaces(_top_left_with_landmarks)
    detector = FusedDetector(_Cascade([]), tiles)  # type: ignore[arg-type]

    # Twice as wide as high: two tiles would meet edge to edge at x=400 and cut in two any
    # face on the seam, so there are three, 200 px apart.
    found = detector.tiled(np.zeros((400, 800, 3), np.uint8), min_size=20)

    assert [face.box.x for face in found] == [10, 210, 410]
    # A panorama five times as wide has four tiles at most, spread evenly.
    found = detector.tiled(np.zeros((400, 2000, 3), np.uint8), min_size=20)
    assert [face.box.x for face in found] == [10, 543, 1077, 1610]


class _Looks:
    """BlazeFace's looks, answered from a table: the plain one and the mirrored one."""

    name = "blazeface"

    def __init__(self, plain: list[Box], mirrored: list[Box]) -> None:
        self.plain, self.mirrored = plain, mirrored

    def detect(
        self, image: RGBImage, *, min_size: int = 20, border: float = 0.0, mirror: bool = False
    ) -> list[DetectedFace]:
        boxes = self.mirrored if mirror else [] if border else self.plain
        return [DetectedFace(box, MIN_SCORE + 0.1, "blazeface") for box in boxes]


def test_the_added_looks_compare_faces_by_their_part_inside_the_picture() -> None:
    kept = Box(440, 100, 60, 60)  # cut by the right edge of the 500 px wide picture
    # The mirrored look boxes the same face whole, reaching 70 px past the edge: unclipped it
    # overlaps the kept box by too little to be the same face; clipped it lies inside it.
    whole = Box(460, 110, 110, 60)
    other, again = Box(100, 100, 50, 50), Box(105, 100, 50, 50)
    looks = _Looks(plain=[kept], mirrored=[whole, other, again])
    detector = FusedDetector(_Cascade([]), looks)  # type: ignore[arg-type]

    found = detector.detect(np.zeros((400, 500, 3), np.uint8))

    # The face only the mirror found is added, once.
    assert sorted(face.box.as_list() for face in found) == [other.as_list(), kept.as_list()]
