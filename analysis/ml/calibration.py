"""Choosing the default ensemble's weights and temperature on validation faces, and measuring
how well its confidence means what it says.

Everything here works on the members' own probabilities of every face through every view
(members x faces x views x 7, from ``Ensemble.member_scores``), combined exactly as the
pipeline combines them: weighted average per view, temperature, then the mean over views.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.ml.ensemble import calibrated
from analysis.ml.types import EMOTIONS

Scores = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]

# Equal-width confidence bins for the expected calibration error, as is usual.
ECE_BINS = 15
TEMPERATURES = np.exp(np.linspace(np.log(0.25), np.log(4.0), 241))


def combined(members: Scores, weights: Sequence[float], temperature: float = 1.0) -> Scores:
    """The ensemble's probabilities per face (faces x 7), as the pipeline gives them."""
    share = np.asarray(weights, dtype=np.float64)
    per_view = calibrated(np.tensordot(share / share.sum(), members, axes=1), temperature)
    per_view /= per_view.sum(axis=-1, keepdims=True)
    mean: Scores = per_view.mean(axis=1)
    mean /= mean.sum(axis=-1, keepdims=True)
    return mean


@dataclass(frozen=True)
class Figures:
    top1: float
    macro_recall: float
    recall: dict[str, float]
    ece: float
    nll: float

    def as_dict(self) -> dict[str, object]:
        return {
            "top1": round(self.top1, 4),
            "macro_recall": round(self.macro_recall, 4),
            "recall": {name: round(value, 4) for name, value in self.recall.items()},
            "ece": round(self.ece, 4),
            "nll": round(self.nll, 4),
        }


def expected_calibration_error(
    probabilities: Scores, labels: Labels, bins: int = ECE_BINS
) -> float:
    """How far confidence (the top probability) is from accuracy, over equal-width bins of
    confidence, weighted by how many faces fall in each."""
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for index in range(bins):
        inside = which == index
        if inside.any():
            error += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    return float(error)


def figures(probabilities: Scores, labels: Labels) -> Figures:
    """Top-1, macro recall (over the emotions present in ``labels``), recall per emotion (0
    for an absent one), calibration error and negative log-likelihood."""
    predicted = probabilities.argmax(axis=1)
    present = [index for index in range(len(EMOTIONS)) if (labels == index).any()]
    recall = {
        name: float((predicted[labels == index] == index).mean()) if index in present else 0.0
        for index, name in enumerate(EMOTIONS)
    }
    picked = probabilities[np.arange(len(labels)), labels]
    return Figures(
        top1=float((predicted == labels).mean()),
        macro_recall=float(np.mean([recall[EMOTIONS[index]] for index in present])),
        recall=recall,
        ece=expected_calibration_error(probabilities, labels),
        nll=float(-np.log(np.clip(picked, 1e-12, None)).mean()),
    )


def _shares(ticks: int, count: int) -> Iterator[tuple[int, ...]]:
    """Every way to share ``ticks`` among ``count`` members, in lexicographic order. (Filtering
    all ``(ticks + 1) ** count`` tuples by their sum took minutes for seven candidates, where
    the points on the simplex are a few hundred thousand.)"""
    if count == 1:
        yield (ticks,)
        return
    for first in range(ticks + 1):
        for rest in _shares(ticks - first, count - 1):
            yield (first, *rest)


# Grid points scored at once by the weight search: each needs faces x 7 scores (a block is
# about 100 MB for PublicTest's 3,589 faces).
SEARCH_BLOCK = 512


def choose_weights(members: Scores, labels: Labels, step: float = 0.05) -> tuple[float, ...]:
    """The weights (a grid over the simplex, ``step`` apart) whose ensemble has the best mean
    of top-1 and macro recall: the analysis promises both, so neither is traded away for the
    other; between equals, the lowest negative log-likelihood, where any within ``NLL_EQUAL``
    of the lowest counts as the lowest (nearer is the noise of the order of a sum, as between a
    network and its copy), and of those the first in lexicographic order. A member may get
    weight 0 (it is then left out).

    Every point of the grid is tried (230,230 for seven members at 0.05), a block at a time.
    Before a temperature, the pipeline's mean over the views of the weighted average per view
    is the weighted average of each member's mean over the views: the views are averaged once
    here, and a point costs one product of its weights with faces x 7 x members."""
    count, faces = members.shape[:2]
    if faces == 0:
        raise ValueError("No faces to choose the weights on")
    ticks = round(1 / step)
    averaged = members.mean(axis=2)
    averaged /= averaged.sum(axis=-1, keepdims=True)
    flat = averaged.reshape(count, -1)
    # Each member's probability of the label of each face: a point's is its weights times it.
    truth = averaged[:, np.arange(faces), labels]
    # Which face is of which emotion present (faces x emotions present), to count the right
    # ones per emotion.
    present = [index for index in range(len(EMOTIONS)) if (labels == index).any()]
    classes = (labels[:, None] == np.array(present)[None, :]).astype(np.float64)
    per_class = classes.sum(axis=0)
    grid = np.array(list(_shares(ticks, count)), dtype=np.float64) / ticks
    mixed = np.empty((min(SEARCH_BLOCK, len(grid)), flat.shape[1]))
    objective = np.empty(len(grid))
    nll = np.empty(len(grid))
    for start in range(0, len(grid), SEARCH_BLOCK):
        weights = grid[start : start + SEARCH_BLOCK]
        block = mixed[: len(weights)]
        np.dot(weights, flat, out=block)
        right = block.reshape(len(weights), faces, -1).argmax(axis=-1) == labels
        recall = ((right @ classes) / per_class).mean(axis=1)
        # Counts of right answers: equal values are exactly equal once rounded.
        objective[start : start + len(weights)] = np.round((right.mean(axis=1) + recall) / 2, 9)
        picked = (weights @ truth) / weights.sum(axis=1, keepdims=True)
        nll[start : start + len(weights)] = -np.log(np.clip(picked, 1e-12, None)).mean(axis=1)
    return tuple(float(weight) for weight in grid[_first_best(objective, nll)])


# Negative log-likelihoods this close are taken as equal by the weight search.
NLL_EQUAL = 1e-12


def _first_best(objective: Scores, nll: Scores) -> int:
    """The first point with the best objective and, among those, a likelihood loss within
    NLL_EQUAL of their lowest."""
    best = objective == objective.max()
    lowest = nll[best].min()
    return int(np.flatnonzero(best & (nll <= lowest + NLL_EQUAL))[0])


# A network stays in the ensemble only if leaving it out costs more than this in the objective
# (the mean of top-1 and macro recall) on the faces it is chosen on: the smallest gain taken as
# worth the time a network costs on every face. (A judgement of worth, not a significance test:
# on PublicTest's 3,589 faces one figure's standard error is about 0.8 points, the difference
# between two ensembles on the same faces less.)
EARN_TOLERANCE = 0.005


def _objective(members: Scores, labels: Labels, weights: Sequence[float]) -> float:
    scored = figures(combined(members, weights), labels)
    return (scored.top1 + scored.macro_recall) / 2


def choose_members(
    members: Scores,
    labels: Labels,
    costs: Sequence[float],
    *,
    step: float = 0.05,
    tolerance: float = EARN_TOLERANCE,
    everyone: tuple[float, ...] | None = None,
) -> tuple[float, ...]:
    """The weights of :func:`choose_weights`, after leaving out, one at a time, every member
    whose absence lowers the objective by at most ``tolerance`` from the best weighting of all
    of them (the left-out members get weight 0): backward elimination, each step leaving out
    the member missed least, the costlier one between equals. ``everyone``: that best
    weighting of all, when the caller has it already (the costliest search of the grid)."""
    count = members.shape[0]
    weights = everyone if everyone is not None else choose_weights(members, labels, step)
    best = _objective(members, labels, weights)
    kept = [index for index in range(count) if weights[index] > 0]
    while len(kept) > 1:
        trials = []
        for left_out in kept:
            rest = [index for index in kept if index != left_out]
            partial = choose_weights(members[rest], labels, step)
            objective = _objective(members[rest], labels, partial)
            if objective >= best - tolerance:
                trials.append((round(objective, 9), costs[left_out], rest, partial))
        if not trials:
            break
        *_, kept, partial = max(trials, key=lambda trial: trial[:2])
        weights = tuple(
            partial[kept.index(index)] if index in kept else 0.0 for index in range(count)
        )
    return weights


def cross_fitted(
    members: Scores,
    labels: Labels,
    halves: Sequence[npt.NDArray[np.bool_]],
    read_with: Sequence[tuple[Sequence[float], float]],
) -> Figures:
    """The figures of every face of ``halves`` (two masks over the faces), each half read with
    the weights and temperature of ``read_with`` chosen on the *other* half (``read_with[k]`` is
    what was chosen on ``halves[k]``): an estimate of a choice made on all the faces."""
    first, second = halves
    read = [
        combined(members[:, first], *read_with[1]),
        combined(members[:, second], *read_with[0]),
    ]
    return figures(np.concatenate(read), np.concatenate([labels[first], labels[second]]))


def fit_temperature(members: Scores, labels: Labels, weights: Sequence[float]) -> float:
    """The temperature that minimises the negative log-likelihood of the labels (a grid from
    0.25 to 4, about 1.2% apart)."""
    losses = [figures(combined(members, weights, float(t)), labels).nll for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])
