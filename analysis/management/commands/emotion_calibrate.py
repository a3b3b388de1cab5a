"""manage.py emotion_calibrate: choose the default ensemble's weights and temperature on
FER2013's PublicTest, through the analysis pipeline, and write models/ensemble.json."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.ml import calibration, loaders, pipeline, tta
from analysis.ml.training import sha256_of
from analysis.ml.weights import fer_resnet_model

DEFAULT_DATA = settings.BASE_DIR.parent / "shared" / "data" / "fer2013" / "fer2013_train_val.npz"
CANDIDATES = ("fer", "face-api", "fer-resnet")


class Command(BaseCommand):
    help = (
        "Run every emotion network through the pipeline (auto detector, the default passes) on "
        "FER2013's PublicTest faces, choose the ensemble's weights (best mean of top-1 and "
        "macro recall) and temperature (least negative log-likelihood), and write them with "
        "each network's figures to models/ensemble.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
        parser.add_argument("--out", type=Path, default=loaders.ENSEMBLE_FILE)
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
        arrays = np.load(data)
        faces, labels = arrays["val_x"], arrays["val_y"].astype(np.int64)
        if options["limit"]:
            # A random subset: the file is sorted by emotion.
            keep = np.random.default_rng(0).permutation(len(faces))[: options["limit"]]
            faces, labels = faces[keep], labels[keep]
        members = self._scores(faces, options["passes"])
        found = ~np.isnan(members[0, :, 0, 0])
        members, labels = members[:, found], labels[found]

        report: dict[str, Any] = {}
        for position, name in enumerate(CANDIDATES):
            report[name] = calibration.figures(
                calibration.combined(members[position : position + 1], [1.0]), labels
            ).as_dict()
        weights = calibration.choose_weights(members, labels)
        report["ensemble, before calibration"] = calibration.figures(
            calibration.combined(members, weights), labels
        ).as_dict()
        temperature = calibration.fit_temperature(members, labels, weights)
        report["ensemble"] = calibration.figures(
            calibration.combined(members, weights, temperature), labels
        ).as_dict()
        chosen = {
            "members": [
                {"name": name, "weight": round(weight, 4)}
                for name, weight in zip(CANDIDATES, weights, strict=True)
                if weight > 0
            ],
            "temperature": round(temperature, 4),
            "chosen_on": {
                "data": data.name,
                "sha256": sha256_of(data),
                "split": "PublicTest (FER2013's validation faces)",
                "faces": len(found),
                "found": int(found.sum()),
                "detector": "auto",
                "passes": options["passes"],
                "objective": "weights: the best mean of top-1 and macro recall, on a 0.05 grid; "
                "temperature: the least negative log-likelihood",
                "fer-resnet weights": _fer_resnet_sha256(),
            },
            "figures": report,
        }
        options["out"].write_text(json.dumps(chosen, indent=2) + "\n")
        self._print(report, chosen)

    def _scores(self, faces: np.ndarray, passes: int) -> np.ndarray:
        """Every candidate's probabilities of the largest face of each picture through every
        view: candidates x faces x views x 7 (NaN where no face was found)."""
        detector = loaders.detector("auto")
        ensemble = loaders.emotion_ensemble(CANDIDATES, models_dir=settings.ML_MODELS_DIR)
        views = tta.views(passes)
        out = np.full((len(CANDIDATES), len(faces), len(views), 7), np.nan)
        started = time.perf_counter()
        for position, face in enumerate(faces):
            picture = np.ascontiguousarray(np.repeat(face[:, :, None], 3, axis=2))
            detected = pipeline.detect(picture, detector)
            if detected:
                largest = max(detected, key=lambda f: f.box.w * f.box.h)
                out[:, position] = ensemble.member_scores([(picture, largest)], views)[:, 0]
            if (position + 1) % 250 == 0:
                self.stdout.write(
                    f"  {position + 1}/{len(faces)} faces ({time.perf_counter() - started:.0f} s)"
                )
        return out

    def _print(self, report: dict[str, Any], chosen: dict[str, Any]) -> None:
        self.stdout.write(
            f"{'PublicTest, through the pipeline':<30} {'top-1':>6} {'macro':>6} {'ECE':>6}  "
            + " ".join(f"{name[:5]:>5}" for name in report["fer"]["recall"])
        )
        for name, figures in report.items():
            recalls = " ".join(f"{value * 100:5.1f}" for value in figures["recall"].values())
            self.stdout.write(
                f"{name:<30} {figures['top1'] * 100:5.1f}% {figures['macro_recall'] * 100:5.1f}% "
                f"{figures['ece'] * 100:5.1f}%  {recalls}"
            )
        members = ", ".join(f"{m['name']} {m['weight']:.2f}" for m in chosen["members"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {chosen['chosen_on']['found']} faces' choice: {members}; "
                f"temperature {chosen['temperature']:.2f}"
            )
        )


def _fer_resnet_sha256() -> str:
    path = fer_resnet_model().path
    return sha256_of(path) if path is not None and path.is_file() else ""
