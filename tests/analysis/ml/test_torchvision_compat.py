"""The CPU NMS that stands in for torchvision's CUDA-only compiled operator."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ml


def _brute_force_nms(boxes: list[list[float]], scores: list[float], threshold: float) -> list[int]:
    def iou(a: list[float], b: list[float]) -> float:
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union

    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep: list[int] = []
    for i in order:
        if all(iou(boxes[i], boxes[k]) <= threshold for k in keep):
            keep.append(i)
    return keep


def test_torchvision_nms_matches_a_brute_force_reference() -> None:
    from analysis.ml import torchvision_compat

    torchvision_compat.install()
    import torch
    from torchvision.ops import batched_nms, nms

    generator = torch.Generator().manual_seed(7)
    corners = torch.rand((200, 2), generator=generator) * 300
    sizes = torch.rand((200, 2), generator=generator) * 60 + 5
    boxes = torch.cat([corners, corners + sizes], dim=1)
    scores = torch.rand(200, generator=generator)

    kept = nms(boxes, scores, 0.4).tolist()
    assert kept == _brute_force_nms(boxes.tolist(), scores.tolist(), 0.4)
    assert 0 < len(kept) < 200

    # Boxes in different classes never suppress each other.
    same = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    assert batched_nms(same, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]), 0.5).tolist() == [0, 1]
    assert nms(same, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0]


def test_the_libraries_that_import_torchvision_now_import() -> None:
    from analysis.ml import torchvision_compat

    torchvision_compat.install()
    import basicsr.archs.rrdbnet_arch
    import facenet_pytorch
    import gfpgan.archs.gfpganv1_clean_arch

    assert facenet_pytorch.MTCNN is not None
    assert basicsr.archs.rrdbnet_arch.RRDBNet is not None
    assert gfpgan.archs.gfpganv1_clean_arch.GFPGANv1Clean is not None
