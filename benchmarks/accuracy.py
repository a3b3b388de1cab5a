"""Accuracy of plain fer (Haar and MTCNN) and of our pipeline on a folder of labelled faces.

Usage: .venv/bin/python -m benchmarks.accuracy [LABELS_CSV] [--tta N] [--publictest N]

LABELS_CSV has the columns file,emotion (one face per image), its images beside it; by default
../shared/testdata/faces/labels.csv. ``--publictest N`` reads N of FER2013's PublicTest faces
instead (drawn at random with a fixed seed; 0: all 3,589), the 48x48 originals as they are.
For each method it prints the share of faces detected, top-1 accuracy (a missed face counts as
wrong), macro recall over the 7 classes, the expected calibration error of the found faces'
confidence (15 bins), per-class recall and the median milliseconds per image.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from analysis.ml import loaders
from analysis.ml.calibration import expected_calibration_error
from analysis.ml.images import decode_image
from analysis.ml.pipeline import analyse
from analysis.ml.types import EMOTIONS, RGBImage
from benchmarks.peers import MODELS_DIR, SHARED, fer_faces, plain_fer

# A picture's largest face's probabilities, or None when no face was found.
Predictor = Callable[[RGBImage], dict[str, float] | None]


@dataclass
class Score:
    name: str
    truth: list[str] = field(default_factory=list)
    predicted: list[str | None] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    millis: list[float] = field(default_factory=list)

    def ece(self) -> float:
        found = [
            (p, t, c)
            for p, t, c in zip(self.predicted, self.truth, self.confidence, strict=True)
            if p is not None
        ]
        if not found:
            return float("nan")
        # One-hot rows at each face's confidence: what the error needs (top probability, right).
        probabilities = np.zeros((len(found), len(EMOTIONS)))
        labels = np.zeros(len(found), dtype=np.int64)
        for row, (predicted, truth, confidence) in enumerate(found):
            probabilities[row, EMOTIONS.index(predicted)] = confidence
            labels[row] = EMOTIONS.index(truth)
        return expected_calibration_error(probabilities, labels)

    def detected(self) -> float:
        return sum(p is not None for p in self.predicted) / len(self.predicted)

    def accuracy(self) -> float:
        return sum(p == t for p, t in zip(self.predicted, self.truth, strict=True)) / len(
            self.truth
        )

    def recall(self, emotion: str) -> float | None:
        pairs = [(p, t) for p, t in zip(self.predicted, self.truth, strict=True) if t == emotion]
        return sum(p == t for p, t in pairs) / len(pairs) if pairs else None

    def macro_recall(self) -> float:
        recalls = [r for r in (self.recall(e) for e in EMOTIONS) if r is not None]
        return sum(recalls) / len(recalls)


def largest_fer_face(detector: object) -> Predictor:
    def predict(rgb: RGBImage) -> dict[str, float] | None:
        faces = fer_faces(detector, rgb)
        if not faces:
            return None
        face = max(faces, key=lambda f: f["box"][2] * f["box"][3])
        emotions: dict[str, float] = face["emotions"]
        return emotions

    return predict


def ours(detector_name: str, passes: int, model: str = "ensemble") -> Predictor:
    detector = loaders.detector(detector_name)
    classifier = loaders.emotion_classifier(model, models_dir=MODELS_DIR)

    def predict(rgb: RGBImage) -> dict[str, float] | None:
        result = analyse(rgb, detector=detector, classifier=classifier, passes=passes)
        if not result.faces:
            return None
        face = max(result.faces, key=lambda f: f.face.box.area)
        return face.emotions.probabilities

    return predict


def run(name: str, predict: Predictor, samples: list[tuple[RGBImage, str]]) -> Score:
    score = Score(name)
    predict(samples[0][0])  # Warm-up: the first call loads models and compiles graphs.
    for image, emotion in samples:
        started = time.perf_counter()
        probabilities = predict(image)
        score.millis.append((time.perf_counter() - started) * 1000)
        score.truth.append(emotion)
        if probabilities is None:
            score.predicted.append(None)
            score.confidence.append(0.0)
        else:
            dominant = max(probabilities, key=probabilities.__getitem__)
            score.predicted.append(dominant)
            # fer's scores are rounded and need not sum to 1.
            score.confidence.append(probabilities[dominant] / sum(probabilities.values()))
    return score


def labelled(labels: Path) -> list[tuple[RGBImage, str]]:
    with labels.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        (decode_image((labels.parent / row["file"]).read_bytes()).pixels, row["emotion"].strip())
        for row in rows
    ]


def publictest(count: int) -> list[tuple[RGBImage, str]]:
    arrays = np.load(SHARED.parent / "data" / "fer2013" / "fer2013_train_val.npz")
    faces, labels = arrays["val_x"], arrays["val_y"]
    # A random subset, the same every run (the file is sorted by emotion).
    keep = np.random.default_rng(0).permutation(len(faces))[: count or len(faces)]
    return [
        (np.ascontiguousarray(np.repeat(faces[i][:, :, None], 3, axis=2)), EMOTIONS[labels[i]])
        for i in keep
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", nargs="?", type=Path, default=SHARED / "faces" / "labels.csv")
    parser.add_argument("--tta", type=int, default=10, help="passes for our pipeline")
    parser.add_argument(
        "--publictest", type=int, default=None, help="N of FER2013's PublicTest faces (0: all)"
    )
    args = parser.parse_args()

    if args.publictest is not None:
        samples = publictest(args.publictest)
        print(f"{len(samples)} of FER2013's PublicTest faces (48x48, as they are)")
    else:
        samples = labelled(args.labels)
        print(f"{len(samples)} labelled faces from {args.labels}")

    methods: list[tuple[str, Predictor]] = [
        ("plain fer, Haar", largest_fer_face(plain_fer(mtcnn=False))),
        ("plain fer, MTCNN", largest_fer_face(plain_fer(mtcnn=True))),
        *(
            (f"ours, {network} only, tta={args.tta}", ours("auto", args.tta, network))
            for network in loaders.NETWORKS
        ),
        ("ours, tta=1", ours("auto", 1)),
        (f"ours, tta={args.tta}", ours("auto", args.tta)),
    ]
    scores = [run(name, predict, samples) for name, predict in methods]

    header = (
        f"{'method':<34} {'detected':>8} {'top-1':>6} {'macro':>6} {'ECE':>6} {'ms/img':>7}  "
        + " ".join(f"{e[:5]:>5}" for e in EMOTIONS)
    )
    print(header)
    print("-" * len(header))
    for s in scores:
        recalls = " ".join(f"{(s.recall(e) or 0) * 100:5.1f}" for e in EMOTIONS)
        print(
            f"{s.name:<34} {s.detected() * 100:7.1f}% {s.accuracy() * 100:5.1f}% "
            f"{s.macro_recall() * 100:5.1f}% {s.ece() * 100:5.1f}% "
            f"{statistics.median(s.millis):7.1f}  {recalls}"
        )


if __name__ == "__main__":
    main()
