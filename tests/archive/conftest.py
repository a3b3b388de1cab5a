"""Analyses to save, made by the real pipeline code with stand-in models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from accounts.models import User
from analysis.ml.images import decode_image
from analysis.ml.pipeline import analyse
from analysis.ml.types import Box
from analysis.services import Analysis as AnalysisRun
from archive.models import Analysis
from archive.services import analysis_save
from tests.analysis.fakes import FakeClassifier, FakeDetector

HAPPY = {
    "angry": 0.02,
    "disgust": 0.01,
    "fear": 0.02,
    "happy": 0.8,
    "neutral": 0.1,
    "sad": 0.03,
    "surprise": 0.02,
}
SAD = {
    "angry": 0.05,
    "disgust": 0.01,
    "fear": 0.04,
    "happy": 0.02,
    "neutral": 0.13,
    "sad": 0.7,
    "surprise": 0.05,
}


@pytest.fixture
def make_run(testdata: Path) -> Callable[..., AnalysisRun]:
    def make(emotions: dict[str, float] | None = None, faces: int = 2) -> AnalysisRun:
        image = decode_image((testdata / "scenes" / "astronaut.png").read_bytes())
        boxes = [Box(40 + 200 * i, 60, 150, 150) for i in range(faces)]
        result = analyse(
            image.pixels,
            detector=FakeDetector(boxes),
            classifier=FakeClassifier(emotions or HAPPY),
            passes=3,
        )
        return AnalysisRun(image=image, result=result, enhance="none", annotated_jpeg=None)

    return make


@pytest.fixture
def save_for(make_run: Callable[..., AnalysisRun]) -> Callable[..., Analysis]:
    def save(
        owner: User, name: str = "", emotions: dict[str, float] | None = None, **kwargs: object
    ) -> Analysis:
        return analysis_save(owner=owner, run=make_run(emotions), name=name, **kwargs)  # type: ignore[arg-type]

    return save
