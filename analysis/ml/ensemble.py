"""Several emotion classifiers scoring the same faces through the same views.

Each classifier gets the crops it reads (its own size, grey or colour) of the same framing and
augmentations, and their probabilities are averaged pass by pass, with weights, then
calibrated by a temperature, so the spread and agreement of the passes describe the ensemble's
answer. Networks trained on different data make different mistakes: averaging them is right
more often than either alone (see benchmarks/accuracy.py). The default's weights and
temperature are chosen on FER2013's PublicTest by ``manage.py emotion_calibrate`` and kept in
models/ensemble.json.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from analysis.ml import alignment
from analysis.ml.alignment import View
from analysis.ml.types import EMOTIONS, DetectedFace, EmotionClassifier, RGBImage

# A face in the picture it is cropped from: the photo itself, or an enhanced copy of the face.
Source = tuple[RGBImage, DetectedFace]


def calibrated(
    probabilities: npt.NDArray[np.float64], temperature: float
) -> npt.NDArray[np.float64]:
    """``probabilities`` (... x 7) with their log divided by ``temperature`` and normalised
    again: above 1 softens them, below 1 sharpens them, the order of the emotions unchanged."""
    if temperature == 1.0:
        return probabilities
    logs = np.log(np.clip(probabilities, 1e-12, None)) / temperature
    logs -= logs.max(axis=-1, keepdims=True)
    out: npt.NDArray[np.float64] = np.exp(logs)
    out /= out.sum(axis=-1, keepdims=True)
    return out


class Ensemble:
    def __init__(
        self,
        members: Sequence[EmotionClassifier],
        weights: Sequence[float] | None = None,
        temperatures: Mapping[int, float] | None = None,
    ) -> None:
        """``temperatures`` maps a number of passes to the temperature fitted for it; a score
        through another number of views takes the nearest one's (none: 1, uncalibrated)."""
        if not members:
            raise ValueError("An ensemble needs at least one classifier")
        if weights is None:
            weights = [1.0] * len(members)
        if len(weights) != len(members) or min(weights) <= 0:
            raise ValueError("An ensemble needs one positive weight per classifier")
        temperatures = dict(temperatures or {1: 1.0})
        if not temperatures or min(temperatures.values()) <= 0:
            raise ValueError("Temperatures must be positive")
        self.members = tuple(members)
        total = float(sum(weights))
        self.weights = tuple(float(weight) / total for weight in weights)
        self.temperatures = temperatures
        self.name = "+".join(member.name for member in self.members)

    def score(self, sources: Sequence[Source], views: Sequence[View]) -> npt.NDArray[np.float64]:
        """Probabilities of every face through every view: faces x views x 7."""
        return calibrated(
            np.tensordot(self.weights, self.member_scores(sources, views), axes=1),
            self.temperature_for(len(views)),
        )

    def temperature_for(self, passes: int) -> float:
        """The temperature fitted for the number of passes nearest to ``passes``."""
        nearest = min(self.temperatures, key=lambda fitted: (abs(fitted - passes), -fitted))
        return self.temperatures[nearest]

    def member_scores(
        self, sources: Sequence[Source], views: Sequence[View]
    ) -> npt.NDArray[np.float64]:
        """Each member's own probabilities: members x faces x views x 7."""
        shape = (len(self.members), len(sources), len(views), len(EMOTIONS))
        scores = np.zeros(shape, dtype=np.float64)
        if not sources:
            return scores
        # One patch per face, cut for the largest input, which each member shrinks to its own.
        largest = max(member.input_size for member in self.members)
        patches = [alignment.face_patch(picture, face, largest, views) for picture, face in sources]
        for position, member in enumerate(self.members):
            batch = np.concatenate(
                [
                    alignment.warp(
                        patch.for_size(member.input_size, gray=member.channels == 1),
                        views,
                        member.input_size,
                    )
                    for patch in patches
                ],
                axis=0,
            )
            scores[position] = member.predict(batch).astype(np.float64).reshape(shape[1:])
        return scores

    def warm_up(self) -> None:
        for member in self.members:
            member.warm_up()
