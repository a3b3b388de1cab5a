"""manage.py emotion_calibrate: choose the default ensemble's members, weights and temperatures
on FER2013's PublicTest, through the analysis pipeline, estimate its figures by cross-fitting
on two halves, and write models/ensemble.json."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.ml import calibration, loaders, pipeline, tta
from analysis.ml.ensemble import Ensemble
from analysis.ml.training import read_manifest, sha256_of
from analysis.ml.types import largest
from analysis.ml.weights import ENSEMBLE_FILE, OUR_NETWORKS, our_network_model

DEFAULT_DATA = settings.BASE_DIR.parent / "shared" / "data" / "fer2013" / "fer2013_train_val.npz"
# Every network an ensemble can hold is a candidate.
CANDIDATES = loaders.NETWORKS
# Temperatures are fitted for these numbers of passes too: the camera's 1, a video's 4.
PASS_COUNTS = (1, 4)
# The first faces are also timed, member by member, for what each costs.
COST_FACES = 300


@dataclass(frozen=True)
class Fit:
    weights: tuple[float, ...]
    everyone: tuple[float, ...]
    temperatures: dict[int, float]


class Command(BaseCommand):
    help = (
        "Run every emotion network through the pipeline (auto detector, the default passes) on "
        "FER2013's PublicTest faces; choose the ensemble's members and weights (best mean of "
        "top-1 and macro recall) and temperatures (least negative log-likelihood, for 1, 4 and "
        "the default passes) on all of them; estimate the figures by cross-fitting (each half "
        "read with the choice made on the other); write models/ensemble.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
        parser.add_argument("--out", type=Path, default=ENSEMBLE_FILE)
        parser.add_argument("--passes", type=int, default=tta.DEFAULT_PASSES)
        parser.add_argument(
            "--limit",
            type=int,
            default=0,
            help="N PublicTest faces only, drawn at random (a quick run)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data: Path = options["data"]
        if not data.is_file():
            raise CommandError(f"No FER2013 file at {data}: give its path with --data.")
        passes = options["passes"]
        arrays = np.load(data)
        faces, labels = arrays["val_x"], arrays["val_y"].astype(np.int64)
        # In random order (the file is sorted by emotion), so that the two halves of the
        # cross-fitting below are drawn at random.
        order = np.random.default_rng(0).permutation(len(faces))
        if options["limit"]:
            order = order[: options["limit"]]
        faces, labels = faces[order], labels[order]
        members, costs = self._scores(faces, max(passes, *PASS_COUNTS))
        found = ~np.isnan(members[0, :, 0, 0])
        counts = sorted({*PASS_COUNTS, passes})

        def fitted(mask: np.ndarray) -> Fit:
            """The choice made on the faces of ``mask``: members and weights, the best weights
            of all the networks, temperatures."""
            chosen, truth = members[:, mask], labels[mask]
            everyone = calibration.choose_weights(chosen[:, :, :passes], truth)
            # Every network costs time on every face: one that does not earn it is left out.
            weights = calibration.choose_members(
                chosen[:, :, :passes], truth, costs, everyone=everyone
            )
            return Fit(
                weights=weights,
                everyone=everyone,
                temperatures={
                    count: calibration.fit_temperature(chosen[:, :, :count], truth, weights)
                    for count in counts
                },
            )

        # What is shipped is chosen on every face. What it reads is estimated by cross-fitting:
        # the faces are halved at random, each half is read with the choice made on the other
        # half, and the figures are those of all the faces read so. (Measured on one half
        # only, a choice among this many weightings is noisy: one point either way.)
        halves = [found & (np.arange(len(faces)) % 2 == half) for half in (0, 1)]
        if not all(half.any() for half in halves):
            raise CommandError(
                f"A face was found in {int(found.sum())} of {len(faces)} pictures: too few to "
                "halve; give a larger --limit, or check --data."
            )
        final = fitted(found)
        # The choice made on each half, which reads the other.
        choices = [fitted(half) for half in halves]

        def measured(pick: Callable[[Fit], tuple[Any, float]], count: int) -> Any:
            """The cross-fitted figures, through ``count`` views, of what ``pick`` takes
            (weights, temperature) from each half's choice."""
            return calibration.cross_fitted(
                members[:, :, :count], labels, halves, [pick(choice) for choice in choices]
            ).as_dict()

        def alone(position: int) -> Callable[[Fit], tuple[Any, float]]:
            weights = tuple(float(i == position) for i in range(len(CANDIDATES)))
            return lambda fit: (weights, 1.0)

        report: dict[str, Any] = {}
        for position, name in enumerate(CANDIDATES):
            report[name] = measured(alone(position), passes)
        report["all networks, best weights, before calibration"] = measured(
            lambda fit: (fit.everyone, 1.0), passes
        )
        report["ensemble, before calibration"] = measured(lambda fit: (fit.weights, 1.0), passes)
        report["ensemble"] = measured(lambda fit: (fit.weights, fit.temperatures[passes]), passes)
        report["ensemble, 1 pass, before calibration"] = measured(lambda fit: (fit.weights, 1.0), 1)
        report["ensemble, 1 pass"] = measured(lambda fit: (fit.weights, fit.temperatures[1]), 1)
        weights, everyone, temperatures = final.weights, final.everyone, final.temperatures
        chosen = {
            "members": [
                {"name": name, "weight": round(weight, 4)}
                for name, weight in zip(CANDIDATES, weights, strict=True)
                if weight > 0
            ],
            "temperatures": {str(count): round(t, 4) for count, t in temperatures.items()},
            "chosen_on": {
                "data": data.name,
                "sha256": sha256_of(data),
                "split": "PublicTest (FER2013's validation faces): chosen on every face found; "
                "figures cross-fitted on two halves drawn at random (seed 0), each read with "
                "the choice made on the other",
                "faces": len(faces),
                "found": int(found.sum()),
                # The choice made on the first half (which read the second), then on the second.
                "choices_on_the_halves": [
                    [round(weight, 4) for weight in choice.weights] for choice in choices
                ],
                "detector": "auto",
                "passes": passes,
                "objective": "weights: the best mean of top-1 and macro recall on a 0.05 grid, "
                "then the least negative log-likelihood; networks are left out one at a "
                "time, the one missed least first, while that objective loses at most "
                f"{calibration.EARN_TOLERANCE} from the best weighting of all; temperatures: "
                "the least negative log-likelihood, for each number of passes",
                "ms_per_face": {
                    name: round(cost, 2) for name, cost in zip(CANDIDATES, costs, strict=True)
                },
                "weights_of_all": dict(zip(CANDIDATES, everyone, strict=True)),
                "our networks' weights": {name: _weights_run(name) for name in OUR_NETWORKS},
            },
            "figures": report,
        }
        options["out"].write_text(json.dumps(chosen, indent=2) + "\n")
        self._print(report, chosen)

    def _scores(self, faces: np.ndarray, passes: int) -> tuple[np.ndarray, list[float]]:
        """Every candidate's probabilities of the largest face of each picture through every
        view (candidates x faces x views x 7, NaN where no face was found), and each
        candidate's milliseconds per face for the default passes, views included."""
        detector = loaders.detector("auto")
        ensemble = loaders.emotion_ensemble(CANDIDATES, models_dir=settings.ML_MODELS_DIR)
        views = tta.views(passes)
        out = np.full((len(CANDIDATES), len(faces), len(views), 7), np.nan)
        seconds = np.zeros(len(CANDIDATES))
        started = time.perf_counter()
        for position, face in enumerate(faces):
            picture = np.ascontiguousarray(np.repeat(face[:, :, None], 3, axis=2))
            detected = pipeline.detect(picture, detector)
            if detected:
                source = (picture, largest(detected))
                out[:, position] = ensemble.member_scores([source], views)[:, 0]
                if position < COST_FACES:
                    seconds += _member_seconds(ensemble, source, views[: tta.DEFAULT_PASSES])
            if (position + 1) % 250 == 0:
                self.stdout.write(
                    f"  {position + 1}/{len(faces)} faces ({time.perf_counter() - started:.0f} s)"
                )
        timed = min(COST_FACES, len(faces))
        return out, [float(value) * 1000 / max(timed, 1) for value in seconds]

    def _print(self, report: dict[str, Any], chosen: dict[str, Any]) -> None:
        self.stdout.write(
            f"{'PublicTest (cross-fitted)':<37} {'top-1':>6} {'macro':>6} {'ECE':>6}  "
            + " ".join(f"{name[:5]:>5}" for name in report["fer"]["recall"])
        )
        for name, figures in report.items():
            recalls = " ".join(f"{value * 100:5.1f}" for value in figures["recall"].values())
            self.stdout.write(
                f"{name:<37} {figures['top1'] * 100:5.1f}% {figures['macro_recall'] * 100:5.1f}% "
                f"{figures['ece'] * 100:5.1f}%  {recalls}"
            )
        members = ", ".join(f"{m['name']} {m['weight']:.2f}" for m in chosen["members"])
        temperatures = ", ".join(f"{t} at {n} pass(es)" for n, t in chosen["temperatures"].items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Chosen on the {chosen['chosen_on']['found']} faces found (figures "
                f"cross-fitted on two halves): {members}; temperature {temperatures}"
            )
        )


def _member_seconds(ensemble: Ensemble, source: Any, views: Any) -> np.ndarray:
    """How long each member takes to score one face through ``views`` (its own crops
    included), each member timed alone in turn."""
    seconds = []
    for member in ensemble.members:
        alone = Ensemble([member])
        started = time.perf_counter()
        alone.member_scores([source], views)
        seconds.append(time.perf_counter() - started)
    return np.array(seconds)


def _weights_run(network: str) -> dict[str, str]:
    """The file of our ``network`` that ran (its int8 copy where this machine runs it), and
    its SHA-256, as its manifest gives them (loading checked the file against it)."""
    (member,) = loaders.emotion_classifier(network, models_dir=settings.ML_MODELS_DIR).members
    path = our_network_model(network).path
    assert path is not None  # noqa: S101 - the repository's own folder
    entry = read_manifest(path.parent)["int8" if getattr(member, "int8", False) else "weights"]
    return {"file": entry["file"], "sha256": entry["sha256"]}
