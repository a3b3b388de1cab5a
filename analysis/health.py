"""The models' state for /healthz."""

from __future__ import annotations

from dataclasses import asdict

from django.conf import settings

from analysis.ml.registry import lanes_stats, loaded_models
from analysis.ml.weights import all_weights


def models_status() -> dict[str, object]:
    loaded = loaded_models()
    weights = [
        {
            "key": weight.key,
            "model": weight.model,
            "required": weight.required,
            "present": weight.present,
            # Keys are "name", "name:file" or, for a model loaded once per lane, "lane:name".
            "loaded": any(weight.key in key.split(":") for key in loaded),
            "source": weight.source,
        }
        for weight in all_weights(settings.ML_MODELS_DIR)
    ]
    ok = all(weight["present"] for weight in weights if weight["required"])
    # The model lanes this process has started: queued or running calls, and refusals.
    lanes = [asdict(stats) for stats in lanes_stats()]
    return {"ok": ok, "weights": weights, "lanes": lanes}
