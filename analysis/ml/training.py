"""Training our own emotion network on FER2013, reproducibly, on a CPU (a GPU when present).

The recipe, chosen for what two CPU cores can do in about two hours:
- a small residual network at 48x48 grey (FER2013's own size), with an early stride so that
  most of the work is done on 24x24 and smaller maps;
- faces framed as the analysis pipeline frames them (found by its detector, levelled by the
  eyes, cut at its scale), so that the network learns the crops it will be shown, not only
  FER2013's own;
- augmentation on whole batches in torch: random crops from a 4-pixel padding, mirroring,
  small rotations and scalings, and random erasing (mixup is a choice, off by default: on a
  GPU, four seeds without it read 67.2-67.6% on PublicTest after 60 epochs, two with it 66.8%
  and 67.0%; a network this small under-fits rather than over-fits in 60 epochs);
- label smoothing, and class weights that partly make up for FER2013's imbalance (disgust is
  1.5% of it);
- AdamW with a one-cycle cosine schedule, and an exponential moving average of the weights,
  which is what is kept.

``train`` resumes from the checkpoint in its output folder, prints progress and the
validation figures of every epoch, and writes the weights with a manifest: the data's SHA-256,
the recipe, the seed, the figures, the weights' SHA-256. ``load_network`` refuses weights whose
SHA-256 differs from their manifest's.

The app runs an int8 copy of the network where the CPU has PyTorch's x86 quantised kernels
(about a fifth of the float network's time, within 0.2 point of it on PublicTest; see
``quantise``): ``train`` writes it beside the weights, with its own SHA-256 and figures in the
manifest, and ``quantise_trained`` adds it to a network trained before. It is made with
PyTorch's FX quantisation, which PyTorch is moving to the torchao package: the pinned version
has it, and where a later one cannot load the copy, the app runs the float weights (see
analysis.ml.fer_resnet).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import math
import resource
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.ml.types import EMOTIONS, largest

WEIGHTS = "weights.pt"
MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint.pt"
INT8_WEIGHTS = "weights-int8.pt"
# PyTorch's quantised kernels the int8 copy is made for (FBGEMM and oneDNN, on x86 CPUs).
INT8_ENGINE = "x86"
# The int8 copy's activation ranges are observed on every this-many-th training face.
INT8_CALIBRATION_STEP = 60


@dataclass(frozen=True)
class Recipe:
    epochs: int = 60
    batch: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    # Class weights are (1 / frequency) ** this: 0 ignores the imbalance, 1 undoes it.
    class_weight_power: float = 0.5
    ema_decay: float = 0.998
    widths: tuple[int, ...] = (32, 64, 128, 256)
    # Mixup's Beta(alpha, alpha): 0 turns it off (fer-resnet and fer-resnet-2 used 0.2).
    mixup: float = 0.0
    # The detector that frames every face as the analysis pipeline does before the network
    # sees it ("" trains on FER2013's crops as they are).
    framing: str = "auto"
    seed: int = 2026
    # Only this many training faces, drawn at random (0: all); for a quick run.
    limit: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_network(widths: tuple[int, ...] = Recipe.widths) -> Any:
    """A small ResNet for 48x48 grey faces: 7 logits in EMOTIONS order."""
    import torch
    from torch import nn
    from torch.nn import functional

    class Block(nn.Module):
        def __init__(self, inputs: int, outputs: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(outputs)
            self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(outputs)
            self.skip = (
                nn.Sequential(
                    nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs)
                )
                if stride != 1 or inputs != outputs
                else nn.Identity()
            )

        def forward(self, x: Any) -> Any:
            # functional.relu (not torch.relu): the int8 copy fuses it into the convolution.
            out = functional.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return torch.relu(out + self.skip(x))

    first = widths[0]
    layers: list[Any] = [
        # The early stride: 48 -> 24 at once, where a plain VGG would spend most of its time.
        nn.Conv2d(1, first, 3, 2, 1, bias=False),
        nn.BatchNorm2d(first),
        nn.ReLU(inplace=True),
    ]
    inputs = first
    for position, width in enumerate(widths):
        layers += [Block(inputs, width, 1 if position == 0 else 2), Block(width, width, 1)]
        inputs = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(inputs, 7)]
    return nn.Sequential(*layers)


def _augment(batch: Any, generator: Any) -> Any:
    """Crops from a 4-pixel padding, mirroring, small rotations and scalings, and erasing."""
    import torch
    from torch.nn import functional

    count = batch.shape[0]
    angle = (torch.rand(count, generator=generator) * 2 - 1) * math.radians(12)
    scale = 1 + (torch.rand(count, generator=generator) * 2 - 1) * 0.1
    flip = torch.where(torch.rand(count, generator=generator) < 0.5, -1.0, 1.0)
    shift = (torch.rand(count, 2, generator=generator) * 2 - 1) * (4 / 24)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, shift[:, 0]], dim=1),
            torch.stack([sin * flip, cos, shift[:, 1]], dim=1),
        ],
        dim=1,
    )
    grid = functional.affine_grid(theta, list(batch.shape), align_corners=False)
    out = functional.grid_sample(batch, grid, padding_mode="border", align_corners=False)
    # Random erasing: a rectangle of a tenth to a fifth of the face, in half the faces.
    side = batch.shape[-1]
    erase = torch.rand(count, generator=generator) < 0.5
    sizes = (torch.rand(count, 2, generator=generator) * 0.15 + 0.3) * side
    corners = torch.rand(count, 2, generator=generator) * (side - sizes)
    ys = torch.arange(side).view(1, side, 1)
    xs = torch.arange(side).view(1, 1, side)
    inside = (
        (ys >= corners[:, 0].view(-1, 1, 1))
        & (ys < (corners[:, 0] + sizes[:, 0]).view(-1, 1, 1))
        & (xs >= corners[:, 1].view(-1, 1, 1))
        & (xs < (corners[:, 1] + sizes[:, 1]).view(-1, 1, 1))
        & erase.view(-1, 1, 1)
    )
    return out.masked_fill(inside.unsqueeze(1), 0.0)


def _normalise(pixels: Any) -> Any:
    return pixels.float().unsqueeze(1) / 127.5 - 1.0


def evaluate(
    network: Any, faces: np.ndarray, labels: np.ndarray, batch: int = 512
) -> dict[str, Any]:
    """Top-1, macro recall and recall per class (EMOTIONS order), with the mirrored view."""
    import torch

    network.eval()
    predictions = []
    with torch.inference_mode():
        for start in range(0, len(faces), batch):
            x = _normalise(torch.from_numpy(faces[start : start + batch]))
            logits = network(x) + network(torch.flip(x, dims=[3]))
            predictions.append(logits.argmax(dim=1).numpy())
    predicted = np.concatenate(predictions)
    recalls = {
        name: float((predicted[labels == index] == index).mean())
        if (labels == index).any()
        else 0.0
        for index, name in enumerate(EMOTIONS)
    }
    return {
        "top1": float((predicted == labels).mean()),
        "macro_recall": float(np.mean(list(recalls.values()))),
        "recall": recalls,
    }


FRAMED = "framed-{key}.npz"
# Part of the framed faces' cache key: raise it when the framing or the detectors change.
FRAMING_VERSION = 4


def frame_faces(
    faces: np.ndarray, detector: Any, say: Callable[[str], None] = print
) -> tuple[np.ndarray, int]:
    """Each 48x48 face cut again as the analysis pipeline cuts it for a 48 px network: found by
    ``detector`` (the largest face; the whole picture when none is found, as the pipeline
    does), centred, levelled by its eyes and framed at the pipeline's scale. Returns the
    crops and how many faces the detector found."""
    from analysis.ml import alignment, pipeline

    out = np.empty_like(faces)
    found = 0
    for position, face in enumerate(faces):
        picture = np.ascontiguousarray(np.repeat(face[:, :, None], 3, axis=2))
        detected = pipeline.detect(picture, detector)
        if detected:
            chosen = largest(detected)
            found += chosen.how != "whole_image"
            patch = alignment.face_patch(face, chosen, face.shape[0])
            out[position] = np.clip(
                alignment.warp(patch, (alignment.View(),), face.shape[0])[0], 0, 255
            ).round()
        else:
            out[position] = face
        if (position + 1) % 1000 == 0:
            say(f"  framing faces: {position + 1}/{len(faces)}")
    return out, found


def _framed(
    data: Path,
    out: Path,
    recipe: Recipe,
    arrays: tuple[np.ndarray, np.ndarray],
    *,
    threads: int,
    say: Callable[[str], None],
) -> tuple[np.ndarray, np.ndarray]:
    """``arrays`` (training and validation faces) framed by ``recipe.framing``, kept in ``out``
    so that a resumed run does not frame them again."""
    # The seed chooses the faces only for a run on a subset: with all of them, runs of other
    # seeds share one framing (about 20 minutes on 2 cores).
    subset = f"{recipe.limit}:{recipe.seed}" if recipe.limit else "all"
    key = hashlib.sha256(
        f"{FRAMING_VERSION}:{sha256_of(data)}:{recipe.framing}:{subset}".encode()
    ).hexdigest()[:16]
    cache = out / FRAMED.format(key=key)
    if cache.exists():
        cached = np.load(cache)
        return cached["train_x"], cached["val_x"]
    from analysis.ml import loaders

    detector = loaders.detector(recipe.framing, threads=threads)
    say(f"Framing {sum(len(a) for a in arrays)} faces as the pipeline does ({recipe.framing})")
    framed = []
    for faces in arrays:
        crops, found = frame_faces(faces, detector, say)
        say(f"  the detector found {found} of {len(faces)} faces")
        framed.append(crops)
    for stale in out.glob(FRAMED.format(key="*")):
        stale.unlink()
    # Written aside and renamed, so that a run stopped meanwhile never finds half a file.
    partial = cache.with_name(cache.name + ".partial.npz")
    np.savez(partial, train_x=framed[0], val_x=framed[1])
    partial.replace(cache)
    return framed[0], framed[1]


def _load(data: Path, recipe: Recipe) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    arrays = np.load(data)
    train_x, train_y = arrays["train_x"], arrays["train_y"].astype(np.int64)
    val_x, val_y = arrays["val_x"], arrays["val_y"].astype(np.int64)
    if recipe.limit:
        # A random subset (the file is sorted by class), the same for the same seed.
        rng = np.random.default_rng(recipe.seed)
        keep = rng.permutation(len(train_x))[: recipe.limit]
        train_x, train_y = train_x[keep], train_y[keep]
        keep = rng.permutation(len(val_x))[: max(recipe.limit // 4, 64)]
        val_x, val_y = val_x[keep], val_y[keep]
    return train_x, train_y, val_x, val_y


def train(
    *,
    data: Path,
    out: Path,
    recipe: Recipe,
    threads: int = 2,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train (or resume) and write ``out/weights.pt``, its int8 copy where this machine can
    make one, and ``out/manifest.json``."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / CHECKPOINT
    # Checked before the faces are framed (minutes), not after.
    state = _checkpoint(checkpoint, recipe, device)
    train_x, train_y, val_x, val_y = _load(data, recipe)
    if recipe.framing:
        train_x, val_x = _framed(data, out, recipe, (train_x, val_x), threads=threads, say=say)
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    network = build_network(recipe.widths).to(device)
    average = torch.optim.swa_utils.AveragedModel(
        network, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(recipe.ema_decay)
    )
    counts = np.bincount(train_y, minlength=len(EMOTIONS)).astype(np.float64)
    weights = (counts.sum() / np.maximum(counts, 1)) ** recipe.class_weight_power
    weights /= (weights * counts).sum() / counts.sum()
    loss_fn = nn.CrossEntropyLoss(
        weight=torch.tensor(weights, dtype=torch.float32, device=device),
        label_smoothing=recipe.label_smoothing,
    )
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay
    )
    steps_per_epoch = math.ceil(len(train_x) / recipe.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=recipe.learning_rate, total_steps=recipe.epochs * steps_per_epoch
    )
    history: list[dict[str, Any]] = []
    first_epoch = 0
    if state is not None:
        network.load_state_dict(state["network"])
        average.load_state_dict(state["average"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"])
        history, first_epoch = state["history"], state["epoch"]
        say(f"Resuming after epoch {first_epoch} of {recipe.epochs}")
    faces = torch.from_numpy(train_x)
    labels = torch.from_numpy(train_y)
    for epoch in range(first_epoch, recipe.epochs):
        epoch_started = time.perf_counter()
        loss = _one_epoch(
            network,
            average,
            (faces, labels),
            loss_fn,
            (optimiser, schedule),
            recipe,
            generator,
            device,
            say,
            epoch,
        )
        torch.optim.swa_utils.update_bn(
            (_normalise(faces[i : i + 512]).to(device) for i in range(0, len(faces), 512)),
            average,
        )
        figures = evaluate(average.module.cpu(), val_x, val_y)
        average.module.to(device)
        figures.update(
            epoch=epoch + 1, loss=loss, seconds=round(time.perf_counter() - epoch_started, 1)
        )
        history.append(figures)
        # Saved first, so that a run stopped at any point resumes after its last whole epoch.
        torch.save(
            {
                "recipe": asdict(recipe),
                "network": network.state_dict(),
                "average": average.state_dict(),
                "optimiser": optimiser.state_dict(),
                "schedule": schedule.state_dict(),
                "generator": generator.get_state(),
                "history": history,
                "epoch": epoch + 1,
            },
            checkpoint,
        )
        say(
            f"epoch {epoch + 1}/{recipe.epochs}: loss {figures['loss']:.3f}, "
            f"validation top-1 {figures['top1']:.1%}, macro recall {figures['macro_recall']:.1%} "
            f"({figures['seconds']:.0f} s)"
        )
    network = average.module.cpu().eval()
    # Every epoch's, those of the runs before a resume included.
    seconds = sum(figures["seconds"] for figures in history)
    manifest = _write(
        network,
        out,
        data=data,
        recipe=recipe,
        sizes=(len(train_x), len(val_x)),
        device=str(device),
        seconds=seconds,
        history=history,
    )
    # Made from the weights as written (half precision), as quantise_trained makes it.
    return _int8_add(load_network(out), out, manifest, (train_x, val_x, val_y), say=say)


def _checkpoint(checkpoint: Path, recipe: Recipe, device: Any) -> dict[str, Any] | None:
    """The state saved by an earlier run of ``recipe``, if any; ValueError when the folder
    holds another recipe's run."""
    import torch

    if not checkpoint.exists():
        return None
    state: dict[str, Any] = torch.load(checkpoint, map_location=device, weights_only=False)
    if state.get("recipe") != asdict(recipe):
        raise ValueError(
            f"{checkpoint} is from a run with another recipe: remove it to start again, "
            "or write to another folder."
        )
    return state


def _one_epoch(  # noqa: PLR0917 - one training step's parts, named at the one call site.
    network: Any,
    average: Any,
    data: tuple[Any, Any],
    loss_fn: Any,
    stepping: tuple[Any, Any],
    recipe: Recipe,
    generator: Any,
    device: Any,
    say: Callable[[str], None],
    epoch: int,
) -> float:
    import torch

    faces, labels = data
    optimiser, schedule = stepping
    network.train()
    order = torch.randperm(len(faces), generator=generator)
    steps = math.ceil(len(faces) / recipe.batch)
    total = 0.0
    for step in range(steps):
        index = order[step * recipe.batch : (step + 1) * recipe.batch]
        x = _augment(_normalise(faces[index]), generator).to(device)
        target = labels[index].to(device)
        if recipe.mixup > 0:
            # Each face blended with another of the batch, the loss with both labels.
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
            share = float(np.random.default_rng(seed).beta(recipe.mixup, recipe.mixup))
            other = torch.randperm(len(index), generator=generator).to(device)
            outputs = network(share * x + (1 - share) * x[other])
            loss = share * loss_fn(outputs, target) + (1 - share) * loss_fn(outputs, target[other])
        else:
            loss = loss_fn(network(x), target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        average.update_parameters(network)
        total += float(loss.detach())
        if (step + 1) % 50 == 0:
            say(f"  epoch {epoch + 1}, batch {step + 1}/{steps}, loss {total / (step + 1):.3f}")
    return total / steps


def _write(
    network: Any,
    out: Path,
    *,
    data: Path,
    recipe: Recipe,
    sizes: tuple[int, int],
    device: str,
    seconds: float,
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    import torch

    # Half precision halves the file; the network is evaluated in full precision.
    state = {
        key: value.half() if value.is_floating_point() else value
        for key, value in network.state_dict().items()
    }
    torch.save(state, out / WEIGHTS)
    manifest = {
        "network": "small ResNet, 48x48 grey, 7 emotions in the API's order",
        "emotions": list(EMOTIONS),
        "data": {
            "file": data.name,
            "sha256": sha256_of(data),
            "train": sizes[0],
            "validation": sizes[1],
        },
        "recipe": {**asdict(recipe), "widths": list(recipe.widths)},
        "seed": recipe.seed,
        "device": device,
        "seconds": round(seconds, 1),
        # Of the process that finished the run (a resumed run's last part).
        "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "validation": history[-1] if history else {},
        "history": history,
        "weights": {"file": WEIGHTS, "sha256": sha256_of(out / WEIGHTS)},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def load_network(folder: Path, *, int8: bool = False) -> Any:
    """The trained network of ``folder``, in evaluation mode (``int8``: its int8 copy, see
    ``has_int8``); OSError when its weights are not the ones its manifest names (changed,
    truncated) or are missing."""
    import torch

    manifest = read_manifest(folder)
    try:
        entry = manifest["int8"] if int8 else manifest["weights"]
        expected = entry["sha256"]
        weights = folder / entry["file"]
        widths = tuple(manifest["recipe"]["widths"])
    except (KeyError, TypeError) as exc:
        raise OSError(f"{MANIFEST} does not describe the weights asked for") from exc
    if sha256_of(weights) != expected:
        raise OSError(f"The SHA-256 of {weights.name} differs from its manifest's: refused.")
    if int8:
        _quantisation_setup()
    network = build_network(widths).eval()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    if not int8:
        network.load_state_dict({key: value.float() for key, value in state.items()})
        return network
    # The quantised graph of this architecture, whose int8 weights and ranges are then read.
    from torch.ao.quantization.quantize_fx import convert_fx

    prepared = _prepared(network)
    with torch.inference_mode():
        prepared(torch.zeros(1, 1, 48, 48))  # ranges to convert with, replaced by the file's
    quantised = convert_fx(prepared)
    quantised.load_state_dict(state)
    return quantised


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise OSError(f"{MANIFEST} is not a readable manifest") from exc
    if not isinstance(manifest, dict):
        raise OSError(f"{MANIFEST} is not a readable manifest")
    return manifest


def int8_supported() -> bool:
    """Whether this machine's PyTorch has the quantised kernels the int8 copies are made for
    (x86 CPUs) and the FX quantisation that builds their graph."""
    import torch

    try:
        from torch.ao.quantization import quantize_fx  # noqa: F401 - only its presence
    except ImportError:
        return False
    return INT8_ENGINE in torch.backends.quantized.supported_engines


def has_int8(folder: Path) -> bool:
    """Whether ``folder``'s manifest lists an int8 copy that is there and that this machine
    can run."""
    entry = read_manifest(folder).get("int8")
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("file"), str)
        and (folder / entry["file"]).is_file()
        and int8_supported()
    )


@functools.cache
def _quantisation_setup() -> None:
    """Select the x86 quantised kernels (for the whole process: nothing else here uses
    quantised tensors), and silence, once and only them, the notices PyTorch prints on every
    load that FX quantisation and quantised tensors are deprecated (they move to torchao; the
    pinned version has them). Set once, not around each call: ``warnings.catch_warnings`` is
    not thread-safe, and models load in several lanes (two lanes racing here both set the same
    engine and filters, which is harmless)."""
    import torch

    torch.backends.quantized.engine = INT8_ENGINE
    for message in (
        r"torch\.ao\.quantization is deprecated",
        r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized",
        r"TypedStorage is deprecated",
        r"Please use quant_min and quant_max to specify the range for observers",
    ):
        warnings.filterwarnings("ignore", message=message)


def _prepared(network: Any) -> Any:
    """A copy of ``network`` ready to observe activation ranges (per-channel int8 weights,
    int8 activations: PyTorch's default x86 configuration)."""
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_fx

    return prepare_fx(
        copy.deepcopy(network).eval(),
        get_default_qconfig_mapping(INT8_ENGINE),
        (torch.zeros(1, 1, 48, 48),),
    )


def quantise(network: Any, faces: np.ndarray) -> Any:
    """An int8 copy of ``network``: weights quantised per channel, activations to the ranges
    they take on ``faces`` (48x48 grey, 0-255). About four times faster on a CPU."""
    import torch
    from torch.ao.quantization.quantize_fx import convert_fx

    _quantisation_setup()
    prepared = _prepared(network)
    with torch.inference_mode():
        for start in range(0, len(faces), 256):
            prepared(_normalise(torch.from_numpy(faces[start : start + 256])))
    return convert_fx(prepared)


def _int8_add(
    network: Any,
    out: Path,
    manifest: dict[str, Any],
    faces: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Write ``network``'s int8 copy in ``out`` and list it in the manifest (where this machine
    can make one); returns the manifest."""
    import torch

    if not int8_supported():
        say("No int8 copy: this machine's PyTorch has no x86 quantised kernels")
        return manifest
    train_x, val_x, val_y = faces
    calibration = train_x[::INT8_CALIBRATION_STEP]
    quantised = quantise(network, calibration)
    torch.save(quantised.state_dict(), out / INT8_WEIGHTS)
    figures = evaluate(quantised, val_x, val_y)
    manifest["int8"] = {
        "file": INT8_WEIGHTS,
        "sha256": sha256_of(out / INT8_WEIGHTS),
        "engine": INT8_ENGINE,
        "torch": torch.__version__,
        "calibration": f"every {INT8_CALIBRATION_STEP}th training face ({len(calibration)})",
        "validation": figures,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    say(
        f"int8 copy: validation top-1 {figures['top1']:.1%}, "
        f"macro recall {figures['macro_recall']:.1%}"
    )
    return manifest


def quantise_trained(
    *, data: Path, out: Path, threads: int = 2, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Add the int8 copy to the network trained earlier in ``out`` (its manifest gives the
    recipe), from the same data."""
    import torch

    if not int8_supported():
        raise ValueError("This machine's PyTorch has no x86 quantised kernels: no int8 copy")
    torch.set_num_threads(threads)
    manifest = read_manifest(out)
    trained_on = manifest.get("data")
    if not isinstance(trained_on, dict) or trained_on.get("sha256") != sha256_of(data):
        raise ValueError(f"{data.name} is not the data the network in {out} was trained on")
    recipe = _recipe_of(manifest)
    train_x, _, val_x, val_y = _load(data, recipe)
    if recipe.framing:
        train_x, val_x = _framed(data, out, recipe, (train_x, val_x), threads=threads, say=say)
    return _int8_add(load_network(out), out, manifest, (train_x, val_x, val_y), say=say)


def _recipe_of(manifest: dict[str, Any]) -> Recipe:
    """The recipe a manifest records; ValueError when it records another kind of recipe (a
    field this one lacks, or one it needs missing: an older run's manifest is not guessed)."""
    fields = manifest.get("recipe")
    known = {item.name for item in dataclasses.fields(Recipe)}
    if not isinstance(fields, dict) or set(fields) != known:
        raise ValueError(f"{MANIFEST} records a recipe this version of the training cannot read")
    try:
        return Recipe(**{**fields, "widths": tuple(fields["widths"])})
    except TypeError as exc:
        raise ValueError(f"{MANIFEST} records a recipe this version cannot read") from exc
