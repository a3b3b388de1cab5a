"""GFPGAN v1.4 face restoration, run on each face aligned to the FFHQ 512 px template.

gfpgan's own GFPGANer cannot be used offline: its helper downloads detection and parsing
weights when it is built. The alignment it needs is done here instead, from the five
landmarks MTCNN gives (or estimated from the box for the Haar cascade). The weights are not
in any package: ``GFPGANv1.4.pth`` must be placed in the models folder.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from analysis.ml.enhance import estimated_landmarks, face_moved
from analysis.ml.types import DetectedFace, RGBImage, StepCallback

SIZE = 512
# Where the eyes, the nose and the mouth corners sit in FFHQ's aligned 512 px faces.
FFHQ_TEMPLATE = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float32,
)
# FFHQ's background grey, for the parts of the template outside the photo.
BORDER = (135, 133, 132)


def build_network() -> Any:
    """GFPGAN v1.4's architecture (GFPGANv1Clean, 86 M parameters), without weights."""
    from analysis.ml import torchvision_compat

    torchvision_compat.install()
    from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean

    return GFPGANv1Clean(
        out_size=SIZE,
        num_style_feat=512,
        channel_multiplier=2,
        decoder_load_path=None,
        fix_decoder=False,
        num_mlp=8,
        input_is_latent=True,
        different_w=True,
        narrow=1,
        sft_half=True,
    )


class GFPGANEnhancer:
    name = "gfpgan"

    def __init__(self, *, weights: Path, threads: int = 2) -> None:
        network = build_network()
        import torch

        torch.set_num_threads(threads)
        checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
        state = checkpoint.get("params_ema") or checkpoint.get("params") or checkpoint
        network.load_state_dict(state, strict=True)
        self._network = network.eval()
        self._torch = torch
        self._lock = threading.Lock()

    def enhance_face(
        self, image: RGBImage, face: DetectedFace, *, on_step: StepCallback | None = None
    ) -> tuple[RGBImage, DetectedFace]:
        """The face aligned to the FFHQ template and restored (in one step); the face moved
        into it."""
        marks = face.landmarks or estimated_landmarks(face.box)
        matrix = template_transform(np.array(marks.points, dtype=np.float32))
        aligned = cv2.warpAffine(
            image, matrix, (SIZE, SIZE), borderMode=cv2.BORDER_CONSTANT, borderValue=BORDER
        )
        torch = self._torch
        batch = torch.from_numpy(np.ascontiguousarray(aligned.transpose(2, 0, 1))).float()
        batch = (batch / 127.5 - 1.0).unsqueeze(0)
        with self._lock, torch.inference_mode():
            output = self._network(batch, return_rgb=False, randomize_noise=False)[0][0]
        if on_step is not None:
            on_step(1, 1)
        restored = ((output.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()

        def move(point: tuple[float, float]) -> tuple[float, float]:
            x, y = matrix @ np.array([point[0], point[1], 1.0])
            return (float(x), float(y))

        return np.ascontiguousarray(restored), face_moved(face, move)


def template_transform(points: np.ndarray) -> np.ndarray:
    """The similarity transform (rotation, scale, shift) that best puts the five landmarks on
    the FFHQ template, as a 2x3 matrix."""
    matrix, _ = cv2.estimateAffinePartial2D(points, FFHQ_TEMPLATE, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("The landmarks do not define a face alignment")
    return np.asarray(matrix, dtype=np.float64)
