"""The liveness network: its half-precision weights are read exactly, checked, and run as the
graph they were converted from."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from analysis.ml import loaders
from analysis.ml.expression_net import load_weights
from analysis.ml.images import decode_image
from analysis.ml.liveness import MANIFEST, WEIGHTS_SHA256, AntispoofNet, face_crop
from analysis.ml.pipeline import detect
from analysis.ml.types import Box
from analysis.ml.weights import HUMAN_FOLDER, liveness_model


def _copy_weights(tmp_path: Path) -> Path:
    source = liveness_model(settings.ML_MODELS_DIR).path
    assert source is not None
    assert source.is_file(), "run scripts/install.sh first"
    folder = tmp_path / HUMAN_FOLDER
    folder.mkdir()
    for name in WEIGHTS_SHA256:
        shutil.copy(source.with_name(name), folder / name)
    return tmp_path


def _reference(tensors: dict[str, np.ndarray], face: np.ndarray) -> float:
    """The antispoof graph, computed independently in NumPy."""
    x = face.astype(np.float64) / 255
    for index in range(3):
        names = (
            ("unknown", "unknown_0")
            if index == 0
            else (f"unknown_{2 * index - 1}", f"unknown_{2 * index}")
        )
        filters, bias = tensors[names[0]], tensors[names[1]]
        windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(0, 1))
        x = np.einsum("hwcij,ijco->hwo", windows, filters) + bias
        height, width, channels = x.shape
        x = x[: height // 2 * 2, : width // 2 * 2]
        x = x.reshape(height // 2, 2, width // 2, 2, channels).max(axis=(1, 3))
        x = np.maximum(x, 0)
    hidden = np.maximum(x.reshape(-1) @ tensors["unknown_5"] + tensors["unknown_6"], 0)
    return float(1 / (1 + np.exp(-(hidden @ tensors["unknown_7"] + tensors["unknown_8"])[0])))


def test_the_half_precision_weights_load_whole(tmp_path: Path) -> None:
    folder = _copy_weights(tmp_path) / HUMAN_FOLDER
    tensors = load_weights(folder / MANIFEST, sha256=WEIGHTS_SHA256)
    assert tensors["unknown"].shape == (3, 3, 3, 64)
    assert tensors["unknown_5"].shape == (3136, 128)
    assert tensors["unknown"].dtype == np.float32
    # Stored in 16 bits: every value is exactly a half-precision number.
    assert np.array_equal(
        tensors["unknown_5"].astype(np.float16).astype(np.float32), tensors["unknown_5"]
    )
    # The graph's integer shape constant is read as integers, not reinterpreted as floats.
    assert tensors["StatefulPartitionedCall/sequential/flatten/Const"].tolist() == [-1, 3136]


@pytest.mark.ml
def test_the_network_computes_the_converted_graph_on_real_faces(testdata: Path) -> None:
    net = loaders.liveness_model(models_dir=settings.ML_MODELS_DIR)
    tensors = load_weights(Path(settings.ML_MODELS_DIR) / HUMAN_FOLDER / MANIFEST)
    picture = decode_image((testdata / "groups" / "2008_001322.jpg").read_bytes()).pixels
    faces = detect(picture, loaders.detector("auto"))
    assert len(faces) >= 3
    scores = net.scores(picture, faces)
    assert len(scores) == len(faces)
    assert all(0.0 <= score <= 1.0 for score in scores)
    for face, score in list(zip(faces, scores, strict=True))[:3]:
        assert score == pytest.approx(
            _reference(tensors, face_crop(picture, face.box, 128)), abs=1e-4
        )
    assert net.scores(picture, []) == []


def test_altered_weights_are_refused(tmp_path: Path) -> None:
    models_dir = _copy_weights(tmp_path)
    weights = models_dir / HUMAN_FOLDER / "antispoof.bin"
    data = bytearray(weights.read_bytes())
    data[5000] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(OSError, match="SHA-256 differs"):
        AntispoofNet(models_dir=models_dir)


def test_missing_weights_name_the_file_and_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"antispoof\.bin.*models_fetch"):
        AntispoofNet(models_dir=tmp_path)


def test_a_face_past_the_edge_is_cut_square_with_the_edge_repeated() -> None:
    picture = np.zeros((100, 80, 3), np.uint8)
    picture[:, -1] = 200  # the right-hand column
    crop = face_crop(picture, Box(60, 10, 40, 30), 20)
    assert crop.shape == (20, 20, 3)
    # The square (40 px) runs 20 px past the right edge: that part repeats the last column.
    assert (crop[:, -5:] == 200).all()
    assert (crop[:, :5] == 0).all()
    # A box wholly outside the picture, or a thin one, still gives a square, from the nearest
    # pixels, without an error.
    assert face_crop(picture, Box(300, 400, 30, 30), 20).shape == (20, 20, 3)
    assert (face_crop(picture, Box(300, 40, 30, 30), 20) == 200).all()
    assert face_crop(picture, Box(0, 0, 2, 100), 20).shape == (20, 20, 3)
