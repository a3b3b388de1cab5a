from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from analysis.ml import alignment, tta
from analysis.ml.enhance import face_moved, face_region
from analysis.ml.ensemble import Ensemble
from analysis.ml.mini_xception import balance
from analysis.ml.pipeline import analyse, summarise
from analysis.ml.types import EMOTIONS, Box, DetectedFace, Landmarks
from tests.analysis.fakes import FakeClassifier, FakeDetector, fake_scorer

_ZERO = dict.fromkeys(EMOTIONS, 0.0)


def _photo() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 255, size=(300, 400, 3), dtype=np.uint8)


def test_all_faces_and_passes_go_to_the_model_in_one_batch() -> None:
    classifier = FakeClassifier()
    detector = FakeDetector([Box(20, 20, 100, 100), Box(250, 40, 90, 90)])
    result = analyse(_photo(), detector=detector, classifier=Ensemble([classifier]), passes=10)
    assert classifier.batches == [20]
    assert [face.index for face in result.faces] == [0, 1]
    for face in result.faces:
        assert sum(face.emotions.probabilities.values()) == pytest.approx(1.0, abs=0.01)
        assert set(face.emotions.spread) == set(EMOTIONS)
        assert face.emotions.passes == 10


def test_only_the_selected_faces_are_scored() -> None:
    detector = FakeDetector([Box(20, 20, 100, 100), Box(250, 40, 90, 90)])
    result = analyse(_photo(), detector=detector, classifier=fake_scorer(), passes=2, select=[1])
    assert [face.index for face in result.faces] == [1]
    assert result.faces[0].face.box == Box(250, 40, 90, 90)


def test_the_spread_is_zero_when_every_pass_agrees() -> None:
    per_pass = np.tile(np.array([0.1, 0.0, 0.1, 0.6, 0.1, 0.05, 0.05], dtype=np.float32), (5, 1))
    scores = summarise(per_pass)
    assert all(value == 0 for value in scores.spread.values())
    assert scores.agreement == 1.0
    assert scores.dominant == "happy"


def test_disagreeing_passes_show_spread_and_lower_agreement() -> None:
    happy = [0.05, 0.0, 0.05, 0.8, 0.05, 0.05, 0.0]
    sad = [0.05, 0.0, 0.05, 0.05, 0.05, 0.8, 0.0]
    scores = summarise(np.array([happy, happy, sad], dtype=np.float32))
    assert scores.spread["happy"] > 0.2
    assert scores.agreement == pytest.approx(2 / 3, abs=0.01)


def test_the_fer2013_prior_is_partly_corrected() -> None:
    # The raw model says happy and disgust equally; happy was 16 times as common in training,
    # so once corrected disgust must come out ahead.
    raw = np.array([[0.0, 0.4, 0.0, 0.4, 0.1, 0.1, 0.0]], dtype=np.float32)
    balanced = balance(raw)[0]
    assert balanced[EMOTIONS.index("disgust")] > balanced[EMOTIONS.index("happy")]
    assert balanced.sum() == pytest.approx(1.0, abs=0.001)


def test_an_ensemble_averages_its_members_pass_by_pass() -> None:
    happy = FakeClassifier({**_ZERO, "happy": 0.8, "neutral": 0.2})
    sad = FakeClassifier({**_ZERO, "sad": 0.6, "neutral": 0.4})
    sad.input_size, sad.channels = 112, 3
    detector = FakeDetector([Box(20, 20, 100, 100)])
    result = analyse(_photo(), detector=detector, classifier=Ensemble([happy, sad]), passes=3)
    probabilities = result.faces[0].emotions.probabilities
    assert probabilities["happy"] == pytest.approx(0.4, abs=0.001)
    assert probabilities["sad"] == pytest.approx(0.3, abs=0.001)
    assert probabilities["neutral"] == pytest.approx(0.3, abs=0.001)
    # Each member read crops of its own size and colour, all passes in one batch.
    assert happy.shapes == [(3, 64, 64)]
    assert sad.shapes == [(3, 112, 112, 3)]


def test_a_face_on_which_passes_disagree_is_uncertain() -> None:
    result = analyse(
        _photo(),
        detector=FakeDetector([Box(20, 20, 100, 100)]),
        classifier=fake_scorer(alternating=True),
        passes=10,
    )
    face = result.faces[0]
    assert face.emotions.agreement == 0.5
    assert face.quality.verdict == "uncertain"
    assert "the augmented views disagree" in face.quality.reasons


def test_a_face_on_which_passes_agree_is_reliable() -> None:
    result = analyse(
        _photo(),
        detector=FakeDetector([Box(20, 20, 100, 100)]),
        classifier=fake_scorer(),
        passes=10,
    )
    assert result.faces[0].quality.verdict == "reliable"


def test_the_number_of_passes_is_bounded() -> None:
    with pytest.raises(ValueError, match="between 1 and 20"):
        tta.views(21)
    assert len(tta.views(20)) == 20
    assert tta.views(2)[1].flip


class TripleEnhancer:
    """Enlarges the region around a face three times, as Real-ESRGAN does four times."""

    name = "triple"

    def enhance_face(
        self, image: np.ndarray, face: DetectedFace
    ) -> tuple[np.ndarray, DetectedFace]:
        region, x0, y0 = face_region(image, face)
        enlarged = cv2.resize(region, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
        return enlarged, face_moved(face, lambda p: ((p[0] - x0) * 3, (p[1] - y0) * 3))


def test_an_enhanced_face_is_found_again_in_the_enlarged_region() -> None:
    image = _photo()
    face = DetectedFace(
        Box(100, 60, 80, 100),
        0.9,
        "fake",
        Landmarks((120, 90), (160, 90), (140, 110), (125, 130), (155, 130)),
    )
    picture, local = TripleEnhancer().enhance_face(image, face)
    # The region is 2.2 box sides wide around the face's center, then enlarged 3 times.
    half = 100 * 2.2 / 2
    x0, y0 = round(140 - half), round(110 - half)
    assert local.box == Box((100 - x0) * 3, (60 - y0) * 3, 240, 300)
    assert local.landmarks is not None
    assert local.landmarks.left_eye == ((120 - x0) * 3, (90 - y0) * 3)
    # The pixels under the local box are the face's pixels, enlarged.
    original = image[60:160, 100:180]
    enlarged = picture[local.box.y : local.box.y + 300 : 3, local.box.x : local.box.x + 240 : 3]
    assert np.array_equal(enlarged, original)


def test_a_region_past_the_edge_is_filled_with_the_mean_colour() -> None:
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    image[:, :] = (10, 20, 30)
    region, x0, y0 = face_region(image, DetectedFace(Box(0, 0, 50, 50), 0.9, "fake"))
    assert (x0, y0) == (-30, -30)
    assert region.shape == (110, 110, 3)
    assert (region == (10, 20, 30)).all()


def test_analysis_with_an_enhancer_reports_it() -> None:
    result = analyse(
        _photo(),
        detector=FakeDetector([Box(100, 60, 80, 100)]),
        classifier=fake_scorer(),
        passes=2,
        enhancer=TripleEnhancer(),
    )
    assert result.models["enhancer"] == "triple"
    assert "enhance" in result.timings_ms
    assert sum(result.faces[0].emotions.probabilities.values()) == pytest.approx(1, abs=0.01)


def _reference_crops(picture: np.ndarray, face: DetectedFace, size: int) -> np.ndarray:
    """Each view warped straight from the whole picture, as the patch must reproduce it."""
    cx, cy, side, roll = alignment.face_frame(face)
    out = []
    for view in tta.views(tta.MAX_PASSES):
        matrix = cv2.getRotationMatrix2D((cx, cy), roll + view.rotate, size * view.zoom / side)
        matrix[0, 2] += size / 2 - cx + view.shift_x * size
        matrix[1, 2] += size / 2 - cy + view.shift_y * size
        warped = cv2.warpAffine(picture, matrix, (size, size), flags=cv2.INTER_LINEAR)
        warped = warped.astype(np.float32)[:, ::-1] if view.flip else warped.astype(np.float32)
        if view.gain != 1.0 or view.bias != 0.0:
            mean = float(warped.mean())
            warped = np.clip((warped - mean) * view.gain + mean + view.bias, 0.0, 255.0)
        out.append(warped)
    return np.stack(out)


@pytest.mark.parametrize("roll", [0.0, 30.0, 44.0])
def test_every_view_of_a_tilted_face_comes_from_inside_its_patch(roll: float) -> None:
    picture = np.random.default_rng(5).integers(0, 255, size=(500, 500, 3), dtype=np.uint8)
    dx, dy = 20 * math.cos(math.radians(roll)), 20 * math.sin(math.radians(roll))
    landmarks = Landmarks(
        (250 - dx, 240 - dy), (250 + dx, 240 + dy), (250, 255), (240, 270), (260, 270)
    )
    face = DetectedFace(Box(200, 190, 100, 100), 0.99, "fake", landmarks=landmarks)
    views = tta.views(tta.MAX_PASSES)
    crops = alignment.warp(alignment.face_patch(picture, face, 112, views), views, 112)
    # Had the patch been too small, the corners of the turned views would repeat its edge.
    assert np.abs(crops - _reference_crops(picture, face, 112)).max() < 1.0


def test_colour_crops_keep_their_channels_and_fill_borders_with_the_mean_colour() -> None:
    # Red on the left half, blue on the right: a mean fill is purple, an edge copy is not.
    picture = np.zeros((100, 100, 3), dtype=np.uint8)
    picture[:, :50, 0] = 200
    picture[:, 50:, 2] = 200
    # A face at the top edge: the upper part of its crop lies outside the picture.
    face = DetectedFace(Box(30, 0, 40, 40), 0.99, "fake")
    views = tta.views(1)
    crops = alignment.warp(alignment.face_patch(picture, face, 32, views), views, 32)
    assert crops.shape == (1, 32, 32, 3)
    top = crops[0, 0]
    # The region the patch holds is as much red as blue, so its mean is an even purple.
    assert np.allclose(top[:, 0], top[:, 2], atol=2)
    assert top[:, 0].min() > 50
    assert np.allclose(top[:, 1], 0)
