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
    """Greedy non-maximum suppression on (x1, y1, x2, y2) boxes, highest score first."""
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    boxes = boxes.to(torch.float32)
    x1, y1, x2, y2 = boxes.unbind(dim=1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = torch.argsort(scores, descending=True)
    suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    keep: list[int] = []
    for index in order.tolist():
        if suppressed[index]:
            continue
        keep.append(index)
        inter_w = (torch.minimum(x2[index], x2) - torch.maximum(x1[index], x1)).clamp(min=0)
        inter_h = (torch.minimum(y2[index], y2) - torch.maximum(y1[index], y1)).clamp(min=0)
        inter = inter_w * inter_h
        iou = inter / (areas[index] + areas - inter).clamp(min=1e-12)
        suppressed |= iou > iou_threshold
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
