"""The peers benchmarks measure against: plain ``fer``, called the way a user of that library
would, and earlier revisions of this project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared" / "testdata"
# Where the app's settings look for weights files by default (ML_MODELS_DIR).
MODELS_DIR = Path(os.environ.get("ML_MODELS_DIR", REPO_ROOT / "models"))
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def plain_fer(*, mtcnn: bool) -> Any:
    """fer's FER class with its defaults (TFLite model), with Haar or with MTCNN."""
    if mtcnn:
        from analysis.ml import torchvision_compat

        # fer imports facenet-pytorch, which imports torchvision: see torchvision_compat.
        torchvision_compat.install()
    from fer.fer import FER

    return FER(mtcnn=mtcnn)


def fer_faces(detector: Any, rgb: np.ndarray) -> list[dict[str, Any]]:
    """fer's detect_emotions on an RGB image (fer expects OpenCV's BGR order)."""
    result: list[dict[str, Any]] = detector.detect_emotions(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return result


@contextmanager
def revision_checkout(rev: str) -> Iterator[Path]:
    """A git worktree of this repository at ``rev``, removed afterwards (run it with this
    checkout's environment, e.g. benchmarks.latency.local_server(checkout=...))."""
    git = shutil.which("git") or "git"
    with tempfile.TemporaryDirectory() as folder:
        worktree = Path(folder) / "before"
        subprocess.run(
            [git, "worktree", "add", "--detach", str(worktree), rev],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
        )
        try:
            yield worktree
        finally:
            subprocess.run(
                [git, "worktree", "remove", "--force", str(worktree)],
                cwd=REPO_ROOT,
                check=False,
                capture_output=True,
            )
