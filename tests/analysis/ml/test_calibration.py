"""Choosing the ensemble's weights and temperature, and the calibration error that says whether
confidence means what it says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis.ml import calibration, loaders
from analysis.ml.alignment import View
from analysis.ml.ensemble import Ensemble, calibrated
from analysis.ml.types import EMOTIONS, Box, DetectedFace
from tests.analysis.fakes import FakeClassifier


def _labelled(probabilities: np.ndarray, seed: int) -> np.ndarray:
    """Labels drawn from ``probabilities`` themselves: what a perfectly calibrated model sees."""
    rng = np.random.default_rng(seed)
    cumulative = probabilities.cumsum(axis=1)
    return (rng.random((len(probabilities), 1)) > cumulative).sum(axis=1).astype(np.int64)


def _random_probabilities(count: int, seed: int, sharpness: float = 2.0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(count, len(EMOTIONS))) * sharpness
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def test_a_calibrated_model_has_a_small_error_and_an_overconfident_one_a_large_one() -> None:
    truth = _random_probabilities(20000, seed=1)
    labels = _labelled(truth, seed=2)
    assert calibration.expected_calibration_error(truth, labels) < 0.02
    overconfident = calibrated(truth, 0.4)
    assert calibration.expected_calibration_error(overconfident, labels) > 0.1


def test_the_fitted_temperature_undoes_a_known_sharpening() -> None:
    truth = _random_probabilities(20000, seed=3)
    labels = _labelled(truth, seed=4)
    # One member, one view, sharpened as if by a temperature of 0.5: the fit should find 2.
    members = calibrated(truth, 0.5)[None, :, None, :]
    temperature = calibration.fit_temperature(members, labels, [1.0])
    assert temperature == pytest.approx(2.0, rel=0.08)
    after = calibration.combined(members, [1.0], temperature)
    before = calibration.combined(members, [1.0])
    assert calibration.expected_calibration_error(
        after, labels
    ) < calibration.expected_calibration_error(before, labels)
    # The order of the emotions, and so top-1, is unchanged.
    assert (after.argmax(axis=1) == before.argmax(axis=1)).all()


def test_the_chosen_weights_favour_the_member_that_knows() -> None:
    truth = _random_probabilities(3000, seed=5, sharpness=3.0)
    labels = _labelled(truth, seed=6)
    noise = _random_probabilities(3000, seed=7, sharpness=3.0)
    members = np.stack([noise, truth])[:, :, None, :]
    weights = calibration.choose_weights(members, labels, step=0.25)
    assert sum(weights) == pytest.approx(1.0)
    assert weights[1] > weights[0]


@pytest.mark.parametrize("block", [512, 5])
def test_the_weight_search_scores_each_point_as_the_pipeline_combines_it(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    # The search averages the views once and scores many points together; every point must
    # score as the pipeline's own combination through every view does, and ties (here a member
    # given twice) go to the first point in order, across blocks too (5 points a block).
    monkeypatch.setattr(calibration, "SEARCH_BLOCK", block)
    rng = np.random.default_rng(16)
    truth = _random_probabilities(600, seed=17, sharpness=3.0)
    labels = _labelled(truth, seed=18)
    members = np.stack(
        [
            np.stack(
                [
                    weight * truth + (1 - weight) * _random_probabilities(600, seed=seed + view)
                    for view in range(3)
                ],
                axis=1,
            )
            for weight, seed in ((0.6, 20), (0.4, 30), (0.2, 40), (0.0, 50))
        ]
    )
    members = members[rng.permutation(4)]
    members = np.concatenate([members, members[:1]])
    points, objectives, losses = [], [], []
    for parts in calibration._shares(5, len(members)):
        weights = tuple(part / 5 for part in parts)
        scored = calibration.figures(calibration.combined(members, weights), labels)
        points.append(weights)
        objectives.append(round((scored.top1 + scored.macro_recall) / 2, 9))
        losses.append(scored.nll)
    top = max(objectives)
    lowest = min(
        loss for objective, loss in zip(objectives, losses, strict=True) if objective == top
    )
    chosen = next(
        point
        for point, objective, loss in zip(points, objectives, losses, strict=True)
        if objective == top and loss <= lowest + calibration.NLL_EQUAL
    )
    # The member given twice (first and last) makes a tie, which goes to the first point.
    assert chosen[0] == 0.0
    assert calibration.choose_weights(members, labels, step=0.2) == chosen
    assert sum(chosen) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="No faces"):
        calibration.choose_weights(members[:, :0], labels[:0])


def test_between_equal_objectives_the_lower_likelihood_loss_decides() -> None:
    # A network and its sharpened copy rank the emotions alike, so every mix of them has the
    # same top-1 and macro recall; the labels follow the first, so the loss tells them apart.
    truth = _random_probabilities(2000, seed=60, sharpness=2.0)
    labels = _labelled(truth, seed=61)
    members = np.stack([truth, calibrated(truth, 0.4)])[:, :, None, :]
    points = [(part / 4, 1 - part / 4) for part in range(5)]
    scored = [calibration.figures(calibration.combined(members, point), labels) for point in points]
    assert len({round(s.top1, 9) for s in scored}) == 1
    assert len({round(s.macro_recall, 9) for s in scored}) == 1
    least = min(range(len(points)), key=lambda index: scored[index].nll)
    assert least != 0  # not merely the first point
    assert calibration.choose_weights(members, labels, step=0.25) == points[least]


def test_the_ensemble_averages_its_members_with_their_weights() -> None:
    happy = FakeClassifier()
    sad = FakeClassifier({name: (0.7 if name == "sad" else 0.05) for name in EMOTIONS})
    picture = np.full((96, 96, 3), 128, dtype=np.uint8)
    face = DetectedFace(Box(24, 24, 48, 48), 0.99, "fake")
    views = [View(), View(flip=True)]
    scores = Ensemble([happy, sad], weights=[3, 1]).score([(picture, face)], views)
    expected = 0.75 * np.array([happy.probabilities[e] for e in EMOTIONS]) + 0.25 * np.array(
        [sad.probabilities[e] for e in EMOTIONS]
    )
    assert scores.shape == (1, 2, 7)
    np.testing.assert_allclose(scores[0, 0], expected, atol=1e-6)
    sharper = Ensemble([happy, sad], weights=[3, 1], temperatures={1: 1.0, 2: 0.5}).score(
        [(picture, face)], views
    )
    np.testing.assert_allclose(sharper.sum(axis=-1), 1.0)
    assert sharper[0, 0].max() > scores[0, 0].max()
    assert sharper[0, 0].argmax() == scores[0, 0].argmax()
    with pytest.raises(ValueError, match="weight"):
        Ensemble([happy, sad], weights=[1])


def test_each_number_of_passes_takes_the_temperature_fitted_nearest_to_it() -> None:
    ensemble = Ensemble([FakeClassifier()], temperatures={1: 1.6, 4: 1.2, 10: 0.9})
    assert [ensemble.temperature_for(n) for n in (1, 2, 3, 4, 7, 10, 20)] == [
        1.6,
        1.6,
        1.2,
        1.2,
        0.9,
        0.9,
        0.9,
    ]
    assert Ensemble([FakeClassifier()]).temperature_for(10) == 1.0
    with pytest.raises(ValueError, match="positive"):
        Ensemble([FakeClassifier()], temperatures={1: 0.0})


def test_an_unreadable_choice_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = tmp_path / "ensemble.json"
    monkeypatch.setattr(loaders, "ENSEMBLE_FILE", broken)

    def refused(choice: object, match: str) -> None:
        broken.write_text(choice if isinstance(choice, str) else json.dumps(choice))
        loaders.default_ensemble.cache_clear()
        with pytest.raises(OSError, match=match):
            loaders.default_ensemble()

    try:
        good = {"members": [{"name": "fer", "weight": 1}], "temperatures": {"10": 1.1}}
        broken.write_text(json.dumps(good))
        loaders.default_ensemble.cache_clear()
        assert loaders.default_ensemble().temperatures == {10: 1.1}
        refused({**good, "members": [{"name": "vgg-face", "weight": 1}]}, "unknown networks")
        refused({**good, "members": [{"name": "fer", "weight": 0}]}, "weight above 0")
        refused({**good, "members": [{"name": "fer", "weight": 1}] * 2}, "each network once")
        refused({**good, "temperatures": {"10": -1}}, "temperatures above 0")
        refused({**good, "temperatures": []}, "not a readable choice")
        refused("{", "not a readable choice")
    finally:
        loaders.default_ensemble.cache_clear()


def test_a_member_that_adds_nothing_is_left_out_and_one_that_matters_is_kept() -> None:
    truth = _random_probabilities(3000, seed=8, sharpness=3.0)
    labels = _labelled(truth, seed=9)
    # A near copy of the first member adds nothing, however it is weighted; noise adds nothing.
    copy = 0.9 * truth + 0.1 * _random_probabilities(3000, seed=10, sharpness=3.0)
    noise = _random_probabilities(3000, seed=11, sharpness=3.0)
    members = np.stack([truth, copy, noise])[:, :, None, :]
    weights = calibration.choose_members(members, labels, costs=[1.0, 2.0, 3.0], step=0.25)
    # One of the two alike is enough, alone; the noise goes.
    assert sorted(weights[:2]) == [0.0, 1.0]
    assert weights[2] == 0.0
    # A member that alone knows half of the faces is kept beside the one that knows the rest.
    half = np.arange(3000) < 1500
    left = np.where(half[:, None], truth, noise)
    right = np.where(half[:, None], noise, truth)
    members = np.stack([left, right])[:, :, None, :]
    weights = calibration.choose_members(members, labels, costs=[5.0, 1.0], step=0.25)
    assert weights[0] > 0
    assert weights[1] > 0


def test_members_that_each_add_a_little_are_left_out_only_within_the_tolerance() -> None:
    truth = _random_probabilities(3000, seed=12, sharpness=3.0)
    labels = _labelled(truth, seed=13)
    # Two noisy readings of the same truth: averaged, their noise partly cancels.
    first = 0.6 * truth + 0.4 * _random_probabilities(3000, seed=14, sharpness=3.0)
    second = 0.6 * truth + 0.4 * _random_probabilities(3000, seed=15, sharpness=3.0)
    members = np.stack([first, second])[:, :, None, :]
    both = calibration.choose_weights(members, labels, step=0.25)
    assert min(both) > 0  # the best weighting uses both: elimination has work to do
    kept = calibration.choose_members(members, labels, costs=[1.0, 1.0], step=0.25, tolerance=0)
    assert kept == both
    alone = calibration.choose_members(members, labels, costs=[1.0, 1.0], step=0.25, tolerance=0.5)
    assert sorted(alone) == [0.0, 1.0]


@pytest.mark.ml
def test_the_calibrate_command_chooses_on_every_face_and_cross_fits_its_figures(
    tmp_path: Path,
) -> None:
    from django.core.management import CommandError, call_command

    from tests.analysis.ml.test_training import DATA

    out = tmp_path / "ensemble.json"
    call_command("emotion_calibrate", data=DATA, out=out, limit=40, passes=4, stdout=None)
    chosen = json.loads(out.read_text())
    names = [member["name"] for member in chosen["members"]]
    assert names
    assert set(names) <= set(loaders.NETWORKS)
    assert all(member["weight"] > 0 for member in chosen["members"])
    assert set(chosen["temperatures"]) == {"1", "4"}
    on = chosen["chosen_on"]
    assert on["faces"] == 40
    assert 35 <= on["found"] <= 40
    # Each half's own choice is kept beside the figures it gave the other half.
    assert len(on["choices_on_the_halves"]) == 2
    assert {*loaders.NETWORKS, "ensemble", "ensemble, 1 pass"} <= set(chosen["figures"])
    for figures in chosen["figures"].values():
        assert 0.0 <= figures["top1"] <= 1.0
        assert tuple(figures["recall"]) == EMOTIONS
    # One face cannot be halved: a clear error, and the file is left as it was.
    before = out.read_text()
    with pytest.raises(CommandError, match="too few to halve"):
        call_command("emotion_calibrate", data=DATA, out=out, limit=1, passes=4, stdout=None)
    assert out.read_text() == before


def test_cross_fitting_reads_each_half_with_the_choice_made_on_the_other() -> None:
    # Network 0 is right on the first half and guesses on the second; network 1 the reverse.
    count = 200
    labels = np.arange(count) % len(EMOTIONS)
    first = np.arange(count) < count // 2
    halves = [first, ~first]
    right = np.full((count, 1, len(EMOTIONS)), 0.01)
    right[np.arange(count), 0, labels] = 0.94
    guess = np.full((count, 1, len(EMOTIONS)), 1 / len(EMOTIONS))
    members = np.stack([np.where(first[:, None, None], right, guess)])
    members = np.concatenate([members, np.stack([np.where(first[:, None, None], guess, right)])])
    # Each half's own choice is the network that is right on it...
    own = [((1.0, 0.0), 1.0), ((0.0, 1.0), 1.0)]
    # ...so read with the other half's choice, every face is a guess.
    crossed = calibration.cross_fitted(members, labels, halves, own)
    assert crossed.top1 < 0.3
    # Had each half been read with its own choice, every face would be right.
    swapped = calibration.cross_fitted(members, labels, halves, own[::-1])
    assert swapped.top1 == 1.0
