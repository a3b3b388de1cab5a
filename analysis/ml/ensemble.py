"""Several emotion classifiers scoring the same faces through the same views.

Each classifier gets the crops it reads (its own size, grey or colour) of the same framing and
augmentations, and their probabilities are averaged pass by pass with equal weights, so the
spread and agreement of the passes describe the ensemble's answer. Networks trained on
different data make different mistakes: averaging them is right more often than either alone
(see benchmarks/accuracy.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from analysis.ml import alignment
from analysis.ml.alignment import View
from analysis.ml.types import EMOTIONS, DetectedFace, EmotionClassifier, RGBImage

# A face in the picture it is cropped from: the photo itself, or an enhanced copy of the face.
Source = tuple[RGBImage, DetectedFace]


class Ensemble:
    def __init__(self, members: Sequence[EmotionClassifier]) -> None:
        if not members:
            raise ValueError("An ensemble needs at least one classifier")
        self.members = tuple(members)
        self.name = "+".join(member.name for member in self.members)

    def score(self, sources: Sequence[Source], views: Sequence[View]) -> npt.NDArray[np.float64]:
        """Probabilities of every face through every view: faces x views x 7."""
        total = np.zeros((len(sources), len(views), len(EMOTIONS)), dtype=np.float64)
        if not sources:
            return total
        # One patch per face, cut for the largest input, which each member shrinks to its own.
        largest = max(member.input_size for member in self.members)
        patches = [alignment.face_patch(picture, face, largest, views) for picture, face in sources]
        for member in self.members:
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
            total += member.predict(batch).astype(np.float64).reshape(total.shape)
        return total / len(self.members)

    def warm_up(self) -> None:
        for member in self.members:
            member.warm_up()
