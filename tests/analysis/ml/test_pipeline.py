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
