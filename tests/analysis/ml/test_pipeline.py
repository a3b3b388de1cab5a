from __future__ import annotations

import numpy as np
import pytest

from analysis.ml import tta
from analysis.ml.pipeline import analyse, summarise
from analysis.ml.types import EMOTIONS, Box
from tests.analysis.fakes import FakeClassifier, FakeDetector


def _photo() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 255, size=(300, 400, 3), dtype=np.uint8)


def test_all_faces_and_passes_go_to_the_model_in_one_batch() -> None:
    classifier = FakeClassifier()
    detector = FakeDetector([Box(20, 20, 100, 100), Box(250, 40, 90, 90)])
    result = analyse(_photo(), detector=detector, classifier=classifier, passes=10)
    assert classifier.batches == [20]
    assert [face.index for face in result.faces] == [0, 1]
    for face in result.faces:
        assert sum(face.emotions.probabilities.values()) == pytest.approx(1.0, abs=0.01)
        assert set(face.emotions.spread) == set(EMOTIONS)
        assert face.emotions.passes == 10


def test_only_the_selected_faces_are_scored() -> None:
    detector = FakeDetector([Box(20, 20, 100, 100), Box(250, 40, 90, 90)])
    result = analyse(_photo(), detector=detector, classifier=FakeClassifier(), passes=2, select=[1])
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
    scores = summarise(raw)
    assert scores.probabilities["disgust"] > scores.probabilities["happy"]
    assert sum(scores.probabilities.values()) == pytest.approx(1.0, abs=0.001)


def test_a_face_on_which_passes_disagree_is_uncertain() -> None:
    result = analyse(
        _photo(),
        detector=FakeDetector([Box(20, 20, 100, 100)]),
        classifier=FakeClassifier(alternating=True),
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
        classifier=FakeClassifier(),
        passes=10,
    )
    assert result.faces[0].quality.verdict == "reliable"


def test_the_number_of_passes_is_bounded() -> None:
    with pytest.raises(ValueError, match="between 1 and 20"):
        tta.views(21)
    assert len(tta.views(20)) == 20
    assert tta.views(2)[1].flip


class TripleEnhancer:
    name = "triple"

    def enhance(self, image: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)


def test_an_enhanced_face_is_found_again_in_the_enlarged_region() -> None:
    from analysis.ml.pipeline import enhanced_face
    from analysis.ml.types import DetectedFace, Landmarks

    image = _photo()
    face = DetectedFace(
        Box(100, 60, 80, 100),
        0.9,
        "fake",
        Landmarks((120, 90), (160, 90), (140, 110), (125, 130), (155, 130)),
    )
    gray, local = enhanced_face(image, face, TripleEnhancer())
    # The region is 2.2 box sides wide around the face's center, then enlarged 3 times.
    half = 100 * 2.2 / 2
    x0, y0 = round(140 - half), round(110 - half)
    assert local.box == Box((100 - x0) * 3, (60 - y0) * 3, 240, 300)
    assert local.landmarks is not None
    assert local.landmarks.left_eye == ((120 - x0) * 3, (90 - y0) * 3)
    # The pixels under the local box are the face's pixels, enlarged.
    original = cv2_gray(image)[60:160, 100:180]
    enlarged = gray[local.box.y : local.box.y + 300 : 3, local.box.x : local.box.x + 240 : 3]
    assert np.abs(enlarged.astype(int) - original.astype(int)).max() <= 1


def test_analysis_with_an_enhancer_reports_it() -> None:
    result = analyse(
        _photo(),
        detector=FakeDetector([Box(100, 60, 80, 100)]),
        classifier=FakeClassifier(),
        passes=2,
        enhancer=TripleEnhancer(),
    )
    assert result.models["enhancer"] == "triple"
    assert "enhance" in result.timings_ms
    assert sum(result.faces[0].emotions.probabilities.values()) == pytest.approx(1, abs=0.01)


def cv2_gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
