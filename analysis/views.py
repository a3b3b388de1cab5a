"""Pages of the analysis app."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analysis.ml.registry import loaded_models
from analysis.ml.tta import MAX_PASSES
from analysis.ml.weights import gfpgan_model

# Printed by benchmarks/accuracy.py (tta=10); shown in the page's model card.
MEASURED_ACCURACY = "57.9% top-1 and 55.5% macro recall, against 42.9% and 38.6% for plain fer"


@login_required
def analyze_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "analysis/analyze.html",
        {
            "max_bytes": settings.UPLOAD_MAX_BYTES,
            "max_mb": settings.UPLOAD_MAX_BYTES // 1_048_576,
            "max_passes": MAX_PASSES,
            "accuracy_note": MEASURED_ACCURACY,
            "gfpgan_ready": gfpgan_model(settings.ML_MODELS_DIR).present,
            # Whether the first analysis must load the models (it then takes several seconds).
            "models_ready": any(key.startswith("expression") for key in loaded_models()),
        },
    )
