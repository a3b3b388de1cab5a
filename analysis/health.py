"""The models' state for /healthz."""

from __future__ import annotations

from django.conf import settings

from analysis.ml.registry import loaded_models
from analysis.ml.weights import all_weights


def models_status() -> dict[str, object]:
    loaded = loaded_models()
    weights = [
        {
            "key": weight.key,
            "model": weight.model,
            "required": weight.required,
            "present": weight.present,
            "loaded": any(key.split(":")[0] == weight.key for key in loaded),
            "source": weight.source,
        }
        for weight in all_weights(settings.ML_MODELS_DIR)
    ]
    ok = all(weight["present"] for weight in weights if weight["required"])
    return {"ok": ok, "weights": weights}
