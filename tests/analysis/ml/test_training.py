"""Training our emotion network: a run on a small slice of FER2013 finishes, resumes and writes
a manifest; loading refuses weights that are not the manifest's."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from analysis.ml.training import (
    INT8_WEIGHTS,
    MANIFEST,
    WEIGHTS,
    Recipe,
    has_int8,
    int8_supported,
    load_network,
    quantise_trained,
    sha256_of,
    train,
)
from analysis.ml.types import EMOTIONS

DATA = (
    Path(__file__).resolve().parents[3].parent
    / "shared"
    / "data"
    / "fer2013"
    / "fer2013_train_val.npz"
)


@pytest.fixture
def slice_data(tmp_path: Path) -> Path:
    """A small file in FER2013's layout, cut from the real one (every class present)."""
    if not DATA.is_file():
        pytest.fail(f"FER2013 is missing: expected it at {DATA}")
    arrays = np.load(DATA)
    rng = np.random.default_rng(0)
    train = rng.permutation(len(arrays["train_y"]))[:256]
    val = rng.permutation(len(arrays["val_y"]))[:64]
    path = tmp_path / "slice.npz"
    np.savez(
        path,
        train_x=arrays["train_x"][train],
        train_y=arrays["train_y"][train],
        val_x=arrays["val_x"][val],
        val_y=arrays["val_y"][val],
    )
    return path


class _Stopped(Exception):
    pass


def test_a_stopped_run_resumes_and_writes_weights_and_a_manifest(
    slice_data: Path, tmp_path: Path
) -> None:
    import torch

    out = tmp_path / "net"
    # With mixup (off by default), so that its branch runs too.
    recipe = Recipe(epochs=2, batch=64, widths=(8, 16, 16, 32), mixup=0.2)

    def stop_after_the_first_epoch(line: str) -> None:
        if line.startswith("epoch 1/2"):
            raise _Stopped

    with pytest.raises(_Stopped):
        train(data=slice_data, out=out, recipe=recipe, threads=1, say=stop_after_the_first_epoch)
    assert not (out / MANIFEST).exists()
    # The faces were framed once, by the pipeline's detector, and kept for the resumed run.
    (framed,) = out.glob("framed-*.npz")
    crops = np.load(framed)["train_x"]
    original = np.load(slice_data)["train_x"]
    assert crops.shape == original.shape
    assert crops.dtype == np.uint8
    assert (crops != original).any(axis=(1, 2)).mean() > 0.5
    lines: list[str] = []
    manifest = train(data=slice_data, out=out, recipe=recipe, threads=1, say=lines.append)
    assert lines[0] == "Resuming after epoch 1 of 2"
    assert not any(line.startswith("Framing") for line in lines)
    assert [h["epoch"] for h in manifest["history"]] == [1, 2]
    written = json.loads((out / MANIFEST).read_text())
    assert written == manifest
    assert written["data"]["sha256"] == sha256_of(slice_data)
    assert written["weights"]["sha256"] == sha256_of(out / WEIGHTS)
    assert written["seed"] == recipe.seed
    assert written["recipe"]["framing"] == "auto"
    assert written["peak_memory_mib"] > 0
    # The whole run's time, the epoch before the stop included (both epochs are in the history).
    assert written["seconds"] == pytest.approx(sum(h["seconds"] for h in written["history"]))
    assert tuple(written["validation"]["recall"]) == EMOTIONS
    assert 0.0 <= written["validation"]["top1"] <= 1.0
    network = load_network(out)
    assert tuple(network(torch.zeros(2, 1, 48, 48)).shape) == (2, 7)
    # ...and its int8 copy, which the app runs: listed with its own checksum and figures.
    assert written["int8"]["sha256"] == sha256_of(out / INT8_WEIGHTS)
    assert tuple(written["int8"]["validation"]["recall"]) == EMOTIONS
    quantised = load_network(out, int8=True)
    faces = torch.from_numpy(np.load(slice_data)["val_x"][:32]).float().unsqueeze(1) / 127.5 - 1
    with torch.inference_mode():
        exact, close = network(faces).softmax(1), quantised(faces).softmax(1)
    assert float((exact - close).abs().max()) < 0.1
    # Another recipe does not silently continue this run's checkpoint.
    with pytest.raises(ValueError, match="another recipe"):
        train(data=slice_data, out=out, recipe=Recipe(epochs=3, batch=64, widths=(8, 16, 16, 32)))


def test_loading_refuses_weights_whose_checksum_differs(slice_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "net"
    train(
        data=slice_data,
        out=out,
        recipe=Recipe(epochs=1, batch=64, widths=(8, 16, 16, 32), framing=""),
        threads=1,
        say=lambda line: None,
    )
    weights = out / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(OSError, match="SHA-256"):
        load_network(out)
    quantised = out / INT8_WEIGHTS
    data = bytearray(quantised.read_bytes())
    data[-10] ^= 0xFF
    quantised.write_bytes(bytes(data))
    with pytest.raises(OSError, match="SHA-256"):
        load_network(out, int8=True)
    (out / MANIFEST).write_text("not json")
    with pytest.raises(OSError, match="manifest"):
        load_network(out)


def test_the_int8_copy_of_a_trained_network_is_made_again_the_same(
    slice_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "net"
    recipe = Recipe(epochs=1, batch=64, widths=(8, 16, 16, 32), framing="")
    first = train(data=slice_data, out=out, recipe=recipe, threads=1, say=lambda line: None)
    (out / INT8_WEIGHTS).unlink()
    manifest = {key: value for key, value in first.items() if key != "int8"}
    (out / MANIFEST).write_text(json.dumps(manifest))
    assert not has_int8(out)
    again = quantise_trained(data=slice_data, out=out, threads=1, say=lambda line: None)
    assert again["int8"] == first["int8"]
    assert has_int8(out)
    # Only from the data the network was trained on.
    other = tmp_path / "other.npz"
    np.savez(other, **{k: v[::-1] for k, v in np.load(slice_data).items()})
    with pytest.raises(ValueError, match="not the data"):
        quantise_trained(data=other, out=out, threads=1, say=lambda line: None)


def test_an_int8_copy_that_does_not_load_leaves_the_float_weights_serving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    from analysis.ml.fer_resnet import FerResNetClassifier

    folder = tmp_path / "fer-resnet"
    shutil.copytree(Path(__file__).resolve().parents[3] / "models" / "fer-resnet", folder)
    faces = np.random.default_rng(0).uniform(0, 255, (4, 48, 48)).astype(np.float32)
    exact = FerResNetClassifier(name="x", folder=folder)
    exact._network = load_network(folder)  # the float weights, to compare with
    expected = exact.predict(faces)
    quantised = folder / INT8_WEIGHTS
    quantised.write_bytes(quantised.read_bytes()[:-100])
    with caplog.at_level("WARNING"):
        fallback = FerResNetClassifier(name="x", folder=folder)
    assert fallback.int8 is False
    assert "did not load" in caplog.text
    assert np.allclose(fallback.predict(faces), expected)


def test_a_manifest_of_another_recipe_is_not_guessed_at(slice_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "net"
    recipe = Recipe(epochs=1, batch=64, widths=(8, 16, 16, 32), framing="")
    manifest = train(data=slice_data, out=out, recipe=recipe, threads=1, say=lambda line: None)
    del manifest["recipe"]["framing"]  # as an older run's manifest
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="recipe"):
        quantise_trained(data=slice_data, out=out, threads=1, say=lambda line: None)


def test_the_committed_network_loads_and_reads_a_real_happy_face(testdata: Path) -> None:
    import cv2
    import torch

    from analysis.ml.images import decode_image

    folder = Path(__file__).resolve().parents[3] / "models" / "fer-resnet"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["validation"]["top1"] > 0.6
    assert manifest["int8"]["validation"]["top1"] > 0.6
    # The middle of a smiling portrait, grey, at 48 px.
    photo = decode_image((testdata / "scenes" / "astronaut.png").read_bytes()).pixels
    face = cv2.cvtColor(photo[70:175, 174:279], cv2.COLOR_RGB2GRAY)
    x = torch.from_numpy(cv2.resize(face, (48, 48))).float().view(1, 1, 48, 48) / 127.5 - 1.0
    for int8 in (False, True):
        network = load_network(folder, int8=int8)
        with torch.inference_mode():
            probabilities = torch.softmax(network(x), dim=1)[0]
        assert float(probabilities.sum()) == pytest.approx(1.0, abs=1e-5)
        assert int(probabilities.argmax()) == 3  # happy, in EMOTIONS order


def test_our_network_is_a_classifier_the_pipeline_can_use(testdata: Path) -> None:
    from django.conf import settings

    from analysis.ml import loaders
    from analysis.ml.pipeline import analyse

    scorer = loaders.emotion_classifier("fer-resnet", models_dir=settings.ML_MODELS_DIR)
    assert scorer.name == "fer-resnet"
    # Where PyTorch has its x86 quantised kernels (this project's machines), the int8 copy runs.
    assert [getattr(member, "int8", None) for member in scorer.members] == [int8_supported()]
    from analysis.ml.images import decode_image

    photo = decode_image((testdata / "scenes" / "astronaut.png").read_bytes()).pixels
    result = analyse(photo, detector=loaders.detector("auto"), classifier=scorer, passes=4)
    assert len(result.faces) == 1
    face = result.faces[0]
    assert sum(face.emotions.probabilities.values()) == pytest.approx(1.0, abs=0.01)
    assert face.emotions.dominant == "happy"


def test_the_training_command_passes_its_options_into_the_recipe(
    slice_data: Path, tmp_path: Path
) -> None:
    from django.core.management import call_command

    out = tmp_path / "net"
    call_command(
        "emotion_train",
        *("--data", str(slice_data), "--out", str(out), "--epochs", "1", "--batch", "64"),
        *("--seed", "7", "--mixup", "0.3", "--framing", "none", "--threads", "1"),
        stdout=io.StringIO(),
    )
    recipe = json.loads((out / MANIFEST).read_text())["recipe"]
    assert (recipe["epochs"], recipe["batch"], recipe["seed"]) == (1, 64, 7)
    assert (recipe["mixup"], recipe["framing"]) == (0.3, "")
    # The rest is the recipe's defaults.
    assert recipe["widths"] == list(Recipe.widths)
