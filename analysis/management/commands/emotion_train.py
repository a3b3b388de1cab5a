"""manage.py emotion_train: train our emotion network on FER2013 (see analysis.ml.training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.ml.loaders import DETECTORS
from analysis.ml.training import Recipe, quantise_trained, train

DEFAULT_DATA = settings.BASE_DIR.parent / "shared" / "data" / "fer2013" / "fer2013_train_val.npz"


class Command(BaseCommand):
    help = (
        "Train the emotion network on FER2013's Training faces, validating on PublicTest; "
        "resumes from the output folder's checkpoint, writes the weights and a manifest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
        parser.add_argument(
            # The folder of the network the default recipe made (fer-resnet and fer-resnet-2
            # were made with --mixup 0.2).
            "--out",
            type=Path,
            default=Path(settings.BASE_DIR) / "models" / "fer-resnet-3",
        )
        parser.add_argument("--epochs", type=int, default=Recipe.epochs)
        parser.add_argument("--batch", type=int, default=Recipe.batch)
        parser.add_argument("--seed", type=int, default=Recipe.seed)
        parser.add_argument(
            "--mixup",
            type=float,
            default=Recipe.mixup,
            help="mixup's Beta(alpha, alpha); 0 turns it off",
        )
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument(
            "--limit", type=int, default=0, help="train on N faces only, drawn at random"
        )
        parser.add_argument(
            "--framing",
            default=Recipe.framing,
            choices=[*DETECTORS, "none"],
            help="the detector that frames the faces as the pipeline does; none: FER2013's crops",
        )
        parser.add_argument(
            "--quantise-only",
            action="store_true",
            help="add the int8 copy to the network already trained in --out, without training",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data: Path = options["data"]
        if not data.is_file():
            raise CommandError(f"No FER2013 file at {data}: give its path with --data.")
        if options["quantise_only"]:
            try:
                manifest = quantise_trained(
                    data=data, out=options["out"], threads=options["threads"], say=self.stdout.write
                )
            except (OSError, ValueError) as exc:
                raise CommandError(str(exc)) from exc
            figures = manifest["int8"]["validation"]
            self.stdout.write(
                self.style.SUCCESS(
                    f"Wrote the int8 copy in {options['out']}: validation top-1 "
                    f"{figures['top1']:.1%}, macro recall {figures['macro_recall']:.1%}"
                )
            )
            return
        recipe = Recipe(
            epochs=options["epochs"],
            batch=options["batch"],
            seed=options["seed"],
            mixup=options["mixup"],
            limit=options["limit"],
            framing="" if options["framing"] == "none" else options["framing"],
        )
        manifest = train(
            data=data,
            out=options["out"],
            recipe=recipe,
            threads=options["threads"],
            say=self.stdout.write,
        )
        figures = manifest["validation"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {options['out']}: validation top-1 {figures.get('top1', 0):.1%}, "
                f"macro recall {figures.get('macro_recall', 0):.1%}"
            )
        )
