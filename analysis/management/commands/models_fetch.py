"""Fetch the model weights that ship in no Python package into ML_MODELS_DIR, and check them.

face-api.js's expression network comes from its npm package (a registry, like PyPI), at a
fixed version whose archive and files are checked against known SHA-256 sums. Files already in
place with the right sums are left alone, so running this again costs nothing. The app never
downloads anything itself: this runs at install time (scripts/install.sh).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analysis.ml.expression_net import WEIGHTS_SHA256
from analysis.ml.weights import FACEAPI_FOLDER

PACKAGE = "@vladmandic/face-api"
VERSION = "1.7.15"
ARCHIVE_SHA256 = "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"
# Where each file sits in the package archive.
MEMBERS = {name: f"package/model/{name}" for name in WEIGHTS_SHA256} | {
    "LICENSE": "package/LICENSE"
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def in_place(folder: Path) -> bool:
    """Whether every weight file is in ``folder`` with its expected sum."""
    return all(
        (folder / name).is_file() and _sha256((folder / name).read_bytes()) == digest
        for name, digest in WEIGHTS_SHA256.items()
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
        folder = Path(settings.ML_MODELS_DIR) / FACEAPI_FOLDER
        if in_place(folder):
            self.stdout.write(f"Expression network weights in place in {folder}")
            return
        name = PACKAGE.rsplit("/", 1)[1]
        url = f"{options['registry'].rstrip('/')}/{PACKAGE}/-/{name}-{VERSION}.tgz"
        if not url.startswith(("https://", "http://")):
            raise CommandError(f"The registry must be an http(s) URL, not {url}")
        self.stdout.write(f"Fetching {PACKAGE} {VERSION} from {url}")
        try:
            with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (checked above)
                archive = response.read()
        except OSError as exc:
            raise CommandError(f"Could not fetch {url}: {exc}") from exc
        if _sha256(archive) != ARCHIVE_SHA256:
            raise CommandError(f"{url} is not the expected archive (its SHA-256 differs)")
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for target, member in MEMBERS.items():
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise CommandError(f"{member} is missing from {url}")
                (folder / target).write_bytes(extracted.read())
        if not in_place(folder):
            raise CommandError(f"The files written to {folder} do not have their expected sums")
        self.stdout.write(f"Expression network weights written to {folder}")
