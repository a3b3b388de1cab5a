"""face-api.js's expression network: its weight files are read exactly, and it reads faces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from accounts.models import User
from analysis.ml import loaders
from analysis.ml.expression_net import MANIFEST, WEIGHTS_SHA256, load_weights
from analysis.ml.images import decode_image
from analysis.ml.pipeline import analyse
from analysis.ml.weights import faceapi_expression_model


def _copy_weights(tmp_path: Path) -> Path:
    source = faceapi_expression_model(settings.ML_MODELS_DIR).path
    assert source is not None
    for name in (source.name, MANIFEST):
        shutil.copy(source.with_name(name), tmp_path / name)
    return tmp_path / MANIFEST


def test_the_shipped_weights_load_whole_and_dequantised(tmp_path: Path) -> None:
    tensors = load_weights(_copy_weights(tmp_path), sha256=WEIGHTS_SHA256)
    assert tensors["dense0/conv0/filters"].shape == (3, 3, 3, 32)
    assert tensors["fc/weights"].shape == (256, 7)
    quantised = json.loads((tmp_path / MANIFEST).read_text())[0]["weights"][0]["quantization"]
    filters = tensors["dense0/conv0/filters"]
    # 8-bit values expanded onto [min, min + 255 * scale].
    assert filters.min() >= quantised["min"] - 1e-6
    assert filters.max() <= quantised["min"] + 255 * quantised["scale"] + 1e-6
    assert len(np.unique(filters)) > 50


def test_altered_weights_are_refused(tmp_path: Path) -> None:
    manifest = _copy_weights(tmp_path)
    weights = tmp_path / "face_expression_model.bin"
    data = bytearray(weights.read_bytes())
    data[1000] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(OSError, match="SHA-256 differs"):
        load_weights(manifest, sha256=WEIGHTS_SHA256)


def test_an_altered_manifest_is_refused(tmp_path: Path) -> None:
    manifest = _copy_weights(tmp_path)
    text = manifest.read_text()
    assert '"scale":0.0057' in text
    manifest.write_text(text.replace('"scale":0.0057', '"scale":0.0058', 1))
    with pytest.raises(OSError, match="SHA-256 differs"):
        load_weights(manifest, sha256=WEIGHTS_SHA256)


def test_a_malformed_manifest_is_an_os_error(tmp_path: Path) -> None:
    manifest = _copy_weights(tmp_path)
    manifest.write_text('[{"paths": ["face_expression_model.bin"], "weights": [{"name": "x"}]}]')
    with pytest.raises(OSError, match="not a readable weights manifest"):
        load_weights(manifest)


@pytest.mark.django_db
def test_the_api_answers_503_when_the_expression_weights_are_broken(
    tmp_path: Path, testdata: Path, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import override_settings
    from rest_framework.test import APIClient

    from analysis.ml import registry
    from analysis.ml.weights import FACEAPI_FOLDER

    folder = tmp_path / FACEAPI_FOLDER
    folder.mkdir()
    manifest = _copy_weights(folder)
    manifest.write_text('[{"paths": ["face_expression_model.bin"], "weights": [{"name": "x"}]}]')
    # Loaded models are cached per process: this test loads its own, from the broken folder.
    monkeypatch.setattr(registry, "_models", {})
    # A default ensemble that runs face-api.js's network (models/ensemble.json may not).
    holding_it = loaders.EnsembleChoice(("face-api",), (1.0,), {1: 1.0}, {})
    monkeypatch.setattr(loaders, "default_ensemble", lambda: holding_it)
    client = APIClient()
    client.force_authenticate(alice)
    with (
        override_settings(ML_MODELS_DIR=tmp_path),
        (testdata / "scenes" / "astronaut.png").open("rb") as image,
    ):
        response = client.post("/api/v1/analyze", {"image": image}, format="multipart")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "model_unavailable"
    assert str(tmp_path) not in error["message"]


def test_a_manifest_that_does_not_match_its_file_is_refused(tmp_path: Path) -> None:
    manifest = _copy_weights(tmp_path)
    weights = tmp_path / "face_expression_model.bin"
    weights.write_bytes(weights.read_bytes() + b"\0" * 16)
    with pytest.raises(OSError, match="describes"):
        load_weights(manifest)


@pytest.mark.ml
@pytest.mark.parametrize("model", [*loaders.NETWORKS, "ensemble"])
def test_each_emotion_model_finds_the_smile(testdata: Path, model: str) -> None:
    image = decode_image((testdata / "scenes" / "astronaut.png").read_bytes()).pixels
    result = analyse(
        image,
        detector=loaders.detector("auto"),
        classifier=loaders.emotion_classifier(model, models_dir=settings.ML_MODELS_DIR),
        passes=4,
    )
    emotions = result.faces[0].emotions
    assert emotions.dominant == "happy"
    assert sum(emotions.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    assert emotions.confidence == max(emotions.probabilities.values())
    members = loaders.default_ensemble().members if model == "ensemble" else (model,)
    assert result.models["emotion"].count("+") == len(members) - 1
