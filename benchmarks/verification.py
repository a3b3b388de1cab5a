"""Face verification: are two photos of the same person? Ours beside ``face_recognition``'s
default (the library most users reach for first: dlib's HOG detector, its 5-point landmarks,
the same ResNet descriptor, distance below 0.6), in the same run.

Pairs from ../shared/testdata/people (40 people, 3 photos each): every same-person pair (120)
and as many different-person pairs, drawn with a fixed seed. Then the enrolment photos of
../shared/testdata/enrol, which played no part in choosing the threshold: every photo of a
person against every photo of the others. Prints, for each method, faces not found, accuracy at
its threshold, the false accepts (over all different-person pairs) and false rejects there,
the true accepts at 1% false accepts, the threshold that would separate the pairs best, and
milliseconds per face (detection and signature).

Usage: .venv/bin/python -m benchmarks.verification
"""

from __future__ import annotations

import csv
import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.peers import SHARED

# A face's signature, or None when no face was found.
Describe = Callable[[np.ndarray], np.ndarray | None]


@dataclass
class Method:
    name: str
    describe: Describe
    # Higher means more alike: similarity for ours, minus the distance for the peer.
    score: Callable[[np.ndarray, np.ndarray], float]
    threshold: float


def ours() -> Method:
    from analysis.ml import embeddings, loaders
    from analysis.ml.pipeline import detect
    from analysis.ml.types import largest

    detector = loaders.detector("auto")
    embedder = loaders.face_embedder()

    def describe(picture: np.ndarray) -> np.ndarray | None:
        faces = detect(picture, detector)
        if not faces:
            return None
        return embedder.embed(picture, [largest(faces)])[0]

    return Method(
        "ours (auto + dlib, mirrored)",
        describe,
        embeddings.similarity,
        embeddings.SAME_PERSON_SIMILARITY,
    )


def peer() -> Method:
    import face_recognition

    def describe(picture: np.ndarray) -> np.ndarray | None:
        found = face_recognition.face_encodings(picture)
        return np.asarray(found[0]) if found else None

    return Method(
        "face_recognition default",
        describe,
        lambda a, b: -float(np.linalg.norm(a - b)),
        -0.6,
    )


def people_pairs() -> tuple[list[Path], list[tuple[int, int]], list[tuple[int, int]]]:
    folder = SHARED / "people"
    with (folder / "people.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    files = [folder / row["file"] for row in rows]
    who = [row["person"] for row in rows]
    same = [(i, j) for i, j in itertools.combinations(range(len(rows)), 2) if who[i] == who[j]]
    rng = np.random.default_rng(0)
    different: set[tuple[int, int]] = set()
    while len(different) < len(same):
        i, j = sorted(int(v) for v in rng.choice(len(rows), 2, replace=False))
        if who[i] != who[j]:
            different.add((i, j))
    return files, same, sorted(different)


def enrol_pairs() -> tuple[list[Path], list[tuple[int, int]], list[tuple[int, int]]]:
    folder = SHARED / "enrol" / "train"
    files = sorted(path for path in folder.glob("*/*") if path.is_file())
    who = [path.parent.name for path in files]
    pairs = list(itertools.combinations(range(len(files)), 2))
    return (
        files,
        [(i, j) for i, j in pairs if who[i] == who[j]],
        [(i, j) for i, j in pairs if who[i] != who[j]],
    )


@dataclass
class Result:
    missing: int
    accuracy: float
    false_accepts: float
    false_rejects: float
    tar_at_far: float
    best_threshold: float
    millis: float


def measure(
    method: Method, files: list[Path], same: list[tuple[int, int]], different: list[tuple[int, int]]
) -> Result:
    from analysis.ml.images import decode_image

    pictures = [decode_image(path.read_bytes()).pixels for path in files]
    method.describe(pictures[0])  # Warm-up: the first call loads the models.
    signatures, millis = [], []
    for picture in pictures:
        started = time.perf_counter()
        signatures.append(method.describe(picture))
        millis.append((time.perf_counter() - started) * 1000)

    def scores(pairs: list[tuple[int, int]]) -> np.ndarray:
        # A face not found can match nothing.
        return np.array(
            [
                -np.inf
                if signatures[i] is None or signatures[j] is None
                else method.score(signatures[i], signatures[j])  # type: ignore[arg-type]
                for i, j in pairs
            ]
        )

    alike, unlike = scores(same), scores(different)
    right = (alike >= method.threshold).sum() + (unlike < method.threshold).sum()
    # The score that lets through 1% of different-person pairs, from all of them (a quantile
    # of 120 pairs would rest on one pair).
    everyone = scores(
        [(i, j) for i, j in itertools.combinations(range(len(files)), 2) if (i, j) not in same]
    )
    at_far = float(np.quantile(everyone[np.isfinite(everyone)], 0.99))
    candidates = np.unique(np.concatenate([alike, unlike])[np.isfinite(np.r_[alike, unlike])])
    best = max(candidates, key=lambda t: (alike >= t).sum() + (unlike < t).sum())
    return Result(
        missing=sum(signature is None for signature in signatures),
        accuracy=float(right / (len(alike) + len(unlike))),
        false_accepts=float((everyone >= method.threshold).mean()),
        false_rejects=float((alike < method.threshold).mean()),
        tar_at_far=float((alike > at_far).mean()),
        best_threshold=float(best),
        millis=statistics.median(millis),
    )


def main() -> None:
    methods = [peer(), ours()]
    for title, (files, same, different) in (
        ("people (40 x 3 photos)", people_pairs()),
        ("enrol (held out from the threshold)", enrol_pairs()),
    ):
        print(
            f"{title}: {len(files)} photos, {len(same)} same-person and {len(different)} "
            "different-person pairs"
        )
        print(
            f"  {'method':<30} {'no face':>7} {'accuracy':>9} {'FAR':>6} {'FRR':>6} "
            f"{'TAR@1%FAR':>10} {'threshold':>10} {'best':>7} {'ms/face':>8}"
        )
        for method in methods:
            result = measure(method, files, same, different)
            print(
                f"  {method.name:<30} {result.missing:>7} {result.accuracy * 100:8.1f}% "
                f"{result.false_accepts * 100:5.2f}% {result.false_rejects * 100:5.1f}% "
                f"{result.tar_at_far * 100:9.1f}% {abs(method.threshold):>10.3f} "
                f"{abs(result.best_threshold):>7.3f} {result.millis:>8.1f}"
            )


if __name__ == "__main__":
    main()
