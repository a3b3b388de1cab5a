"""Real-ESRGAN x4plus rebuilt from the ncnn weights that a registry package ships."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from django.conf import settings

from analysis.ml import loaders
from analysis.ml.images import decode_image
from analysis.ml.pipeline import analyse
from analysis.ml.realesrgan import read_ncnn_convolutions
from analysis.ml.weights import realesrgan_model

pytestmark = pytest.mark.ml


def test_the_ncnn_blob_holds_exactly_the_351_convolutions_of_rrdbnet() -> None:
    path = realesrgan_model().path
    assert path is not None
    layers = read_ncnn_convolutions(path.with_suffix(".param"), path)
    assert len(layers) == 351
    assert layers[0][0].shape == (64, 3, 3, 3)
    assert layers[-1][0].shape == (3, 64, 3, 3)
    assert all(bias is not None for _, bias in layers)


def test_it_enlarges_a_face_four_times_into_a_faithful_picture(testdata: Path) -> None:
    face = decode_image((testdata / "faces" / "Dwarakish_105.jpg").read_bytes()).pixels
    enlarged = loaders.enhancer("realesrgan", models_dir=Path("models")).enhance(face)  # type: ignore[union-attr]
    height, width = face.shape[:2]
    assert enlarged.shape == (height * 4, width * 4, 3)
    # Shrunk back, it must look like the input (PSNR against the original, in dB).
    back = cv2.resize(enlarged, (width, height), interpolation=cv2.INTER_AREA)
    mse = np.mean((back.astype(float) - face.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 27


def test_a_small_face_is_analysed_after_enhancement(testdata: Path) -> None:
    face = decode_image((testdata / "faces" / "Dwarakish_105.jpg").read_bytes()).pixels
    result = analyse(
        face,
        detector=loaders.detector("auto"),
        classifier=loaders.emotion_classifier(models_dir=settings.ML_MODELS_DIR),
        passes=4,
        enhancer=loaders.enhancer("realesrgan", models_dir=Path("models")),
    )
    assert len(result.faces) == 1
    assert result.models["enhancer"] == "realesrgan"
    assert sum(result.faces[0].emotions.probabilities.values()) == pytest.approx(1, abs=0.01)
