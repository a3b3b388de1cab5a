"""Make the CUDA-only torchvision 0.28 wheel importable on a CPU-only torch.

torchvision's compiled ops need CUDA libraries, so ``import torchvision`` fails with
``operator torchvision::nms does not exist``. Before torchvision is first imported we define the
``nms`` operator schema ourselves and register a plain PyTorch CPU implementation, and we tell
torchvision its extension loaded. basicsr 1.4.2 also imports a module that torchvision renamed;
an alias covers that. Only NMS is provided: roi_align and deform_conv stay unavailable, and
nothing in this project uses them.

Call :func:`install` before importing torchvision or anything that imports it; the model loaders
in :mod:`analysis.ml.registry` do so.
"""

from __future__ import annotations

import importlib
import sys
import threading
from typing import Any

_lock = threading.Lock()
# Holds the torch Library object once installed: it must stay alive, or its registrations are
# dropped.
_state: dict[str, Any] = {}


def nms_reference(boxes: Any, scores: Any, iou_threshold: float) -> Any:
    """Greedy non-maximum suppression on (x1, y1, x2, y2) boxes, highest score first.

    Each step compares the best remaining box with all the others in numpy: MTCNN calls this
    a dozen times per image, and per-element torch operations cost it 7 ms a picture.
    """
    import numpy as np
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    b = boxes.detach().to(torch.float64).cpu().numpy()
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    # A stable sort, so that equal scores keep their input order (as torchvision does).
    order = np.argsort(-scores.detach().to(torch.float64).cpu().numpy(), kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        inter_w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        inter_h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = inter_w * inter_h
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)


def install() -> None:
    """Register the CPU NMS operator and the module alias; safe to call many times."""
    if "installed" in _state:
        return
    with _lock:
        if "installed" in _state:
            return
        import torch

        if "torchvision" not in sys.modules and not _has_nms_op(torch):
            library = torch.library.Library("torchvision", "DEF")
            library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            library.impl("nms", nms_reference, "CPU")
            library.impl("qnms", nms_reference, "CPU")
            _state["library"] = library

        extension = importlib.import_module("torchvision.extension")
        extension._has_ops = lambda: True  # type: ignore[attr-defined]
        functional_tensor = importlib.import_module("torchvision.transforms._functional_tensor")
        sys.modules.setdefault("torchvision.transforms.functional_tensor", functional_tensor)
        _state["installed"] = True


def _has_nms_op(torch: Any) -> bool:
    try:
        torch.ops.torchvision.nms  # noqa: B018
    except (AttributeError, RuntimeError):
        return False
    return True
