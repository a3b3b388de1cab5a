"""Accuracy of plain fer (Haar and MTCNN) and of our pipeline on a folder of labelled faces.

Usage: .venv/bin/python benchmarks/accuracy.py [LABELS_CSV] [--tta N]

LABELS_CSV has the columns file,emotion (one face per image), its images beside it; by default
../shared/testdata/faces/labels.csv. For each method it prints the share of faces detected,
top-1 accuracy (a missed face counts as wrong), macro recall over the 7 classes, per-class
recall and the median milliseconds per image.
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

from analysis.ml import loaders
from analysis.ml.images import decode_image
from analysis.ml.pipeline import analyse
from analysis.ml.types import EMOTIONS, RGBImage
from benchmarks.peers import MODELS_DIR, SHARED, fer_faces, plain_fer

Predictor = Callable[[RGBImage], str | None]


@dataclass
class Score:
    name: str
    truth: list[str] = field(default_factory=list)
    predicted: list[str | None] = field(default_factory=list)
    millis: list[float] = field(default_factory=list)

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
    def predict(rgb: RGBImage) -> str | None:
        faces = fer_faces(detector, rgb)
        if not faces:
            return None
        face = max(faces, key=lambda f: f["box"][2] * f["box"][3])
        emotions: dict[str, float] = face["emotions"]
        return max(emotions, key=emotions.__getitem__)

    return predict


def ours(detector_name: str, passes: int, model: str = "ensemble") -> Predictor:
    detector = loaders.detector(detector_name)
    classifier = loaders.emotion_classifier(model, models_dir=MODELS_DIR)

    def predict(rgb: RGBImage) -> str | None:
        result = analyse(rgb, detector=detector, classifier=classifier, passes=passes)
        if not result.faces:
            return None
        face = max(result.faces, key=lambda f: f.face.box.w * f.face.box.h)
        return face.emotions.dominant

    return predict


def run(name: str, predict: Predictor, samples: list[tuple[RGBImage, str]]) -> Score:
    score = Score(name)
    predict(samples[0][0])  # Warm-up: the first call loads models and compiles graphs.
    for image, emotion in samples:
        started = time.perf_counter()
        predicted = predict(image)
        score.millis.append((time.perf_counter() - started) * 1000)
        score.truth.append(emotion)
        score.predicted.append(predicted)
    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labels", nargs="?", type=Path, default=SHARED / "faces" / "labels.csv")
    parser.add_argument("--tta", type=int, default=10, help="passes for our pipeline")
    args = parser.parse_args()

    folder = args.labels.parent
    with args.labels.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    samples = [
        (decode_image((folder / row["file"]).read_bytes()).pixels, row["emotion"].strip())
        for row in rows
    ]
    print(f"{len(samples)} labelled faces from {args.labels}")

    methods: list[tuple[str, Predictor]] = [
        ("plain fer, Haar", largest_fer_face(plain_fer(mtcnn=False))),
        ("plain fer, MTCNN", largest_fer_face(plain_fer(mtcnn=True))),
        (f"ours, fer only, tta={args.tta}", ours("auto", args.tta, "fer")),
        (f"ours, face-api only, tta={args.tta}", ours("auto", args.tta, "face-api")),
        (f"ours, fer-resnet only, tta={args.tta}", ours("auto", args.tta, "fer-resnet")),
        ("ours, tta=1", ours("auto", 1)),
        (f"ours, tta={args.tta}", ours("auto", args.tta)),
    ]
    scores = [run(name, predict, samples) for name, predict in methods]

    header = f"{'method':<27} {'detected':>8} {'top-1':>6} {'macro':>6} {'ms/img':>7}  " + " ".join(
        f"{e[:5]:>5}" for e in EMOTIONS
    )
    print(header)
    print("-" * len(header))
    for s in scores:
        recalls = " ".join(f"{(s.recall(e) or 0) * 100:5.1f}" for e in EMOTIONS)
        print(
            f"{s.name:<27} {s.detected() * 100:7.1f}% {s.accuracy() * 100:5.1f}% "
            f"{s.macro_recall() * 100:5.1f}% {statistics.median(s.millis):7.1f}  {recalls}"
        )


if __name__ == "__main__":
    main()
