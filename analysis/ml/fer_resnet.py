"""Our own emotion networks (models/<name>/, trained by manage.py emotion_train), each as an
EmotionClassifier: 48x48 grey faces in, probabilities in EMOTIONS order out."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.ml.tf_runtime import CHUNK

logger = logging.getLogger(__name__)


class FerResNetClassifier:
    input_size = 48
    channels = 1

    def __init__(self, *, name: str, folder: Path, threads: int = 2) -> None:
        import torch

        self.name = name
        from analysis.ml.training import has_int8, load_network

        torch.set_num_threads(threads)
        self._torch = torch
        # The int8 copy where this machine runs it (a fifth of the time), else the float
        # weights. Raises OSError when the weights are missing or not the manifest's.
        self.int8 = has_int8(folder)
        if self.int8:
            try:
                self._network: Any = load_network(folder, int8=True)
            except Exception:
                # A PyTorch that reads the copy differently (FX quantisation is moving to
                # torchao), or a copy that is not the manifest's: the float weights serve.
                logger.warning(
                    "%s: the int8 copy did not load; running the float weights", name, exc_info=True
                )
                self.int8 = False
        if not self.int8:
            self._network = load_network(folder)
        self._lock = threading.Lock()

    def predict(self, faces: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Probabilities for grey faces with values 0-255 (N x 48 x 48)."""
        torch = self._torch
        outputs = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(faces), CHUNK):
                batch = torch.from_numpy(
                    np.ascontiguousarray(faces[start : start + CHUNK], dtype=np.float32)
                )
                logits = self._network(batch.unsqueeze(1) / 127.5 - 1.0)
                outputs.append(torch.softmax(logits, dim=1).numpy())
        if not outputs:
            return np.zeros((0, 7), dtype=np.float32)
        return np.concatenate(outputs).astype(np.float32)

    def warm_up(self) -> None:
        self.predict(np.zeros((1, self.input_size, self.input_size), dtype=np.float32))
