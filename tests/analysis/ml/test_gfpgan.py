"""GFPGAN's alignment, and its loading and running on a checkpoint made here.

The real GFPGANv1.4.pth is in no package and cannot be downloaded here, so the network is
saved with random weights in the checkpoint's own layout: this tests the loading, alignment
and plumbing, not the quality of the restoration.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from django.conf import LazySettings
from rest_framework.test import APIClient

from accounts.models import User
from analysis.ml.gfpgan import FFHQ_TEMPLATE, template_transform
from analysis.ml.weights import FACEAPI_FOLDER


def test_the_alignment_puts_the_landmarks_on_the_ffhq_template() -> None:
    angle = np.radians(12)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    # The template's points, turned, shrunk and moved, as a face in a photo would be.
    photo_points = (FFHQ_TEMPLATE @ rotation.T) * 0.3 + np.array([40.0, 25.0])
    matrix = template_transform(photo_points.astype(np.float32))
    mapped = np.c_[photo_points, np.ones(5)] @ matrix.T
    assert np.abs(mapped - FFHQ_TEMPLATE).max() < 0.5


@pytest.fixture
def random_gfpgan(tmp_path: Path, settings: LazySettings) -> Path:
    import torch

    from analysis.ml.gfpgan import build_network

    torch.manual_seed(0)
    state = {k: v.half() for k, v in build_network().state_dict().items()}
    path = tmp_path / "GFPGANv1.4.pth"
    torch.save({"params_ema": state}, path)
    # A whole models folder: the expression network's weights live there too.
    shutil.copytree(Path(settings.ML_MODELS_DIR) / FACEAPI_FOLDER, tmp_path / FACEAPI_FOLDER)
    settings.ML_MODELS_DIR = tmp_path
    return path


@pytest.mark.ml
@pytest.mark.django_db
def test_gfpgan_runs_from_a_checkpoint_in_the_models_folder(
    random_gfpgan: Path, alice: User, testdata: Path
) -> None:
    api = APIClient()
    api.force_authenticate(alice)
    with (testdata / "scenes" / "astronaut.png").open("rb") as image:
        response = api.post(
            "/api/v1/analyze", {"image": image, "enhance": "gfpgan", "tta": "2"}, format="multipart"
        )
    body = response.json()
    assert response.status_code == 200
    assert body["models"]["enhancer"] == "gfpgan"
    assert sum(body["faces"][0]["emotions"].values()) == pytest.approx(1, abs=0.01)


@pytest.mark.django_db
def test_without_its_weights_gfpgan_answers_503_naming_the_file(
    alice: User, testdata: Path, settings: LazySettings, tmp_path: Path
) -> None:
    settings.ML_MODELS_DIR = tmp_path
    api = APIClient()
    api.force_authenticate(alice)
    with (testdata / "scenes" / "astronaut.png").open("rb") as image:
        response = api.post(
            "/api/v1/analyze", {"image": image, "enhance": "gfpgan"}, format="multipart"
        )
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "enhancement_unavailable"
    assert "GFPGANv1.4.pth" in error["message"]
