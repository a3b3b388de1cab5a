"""The models' state for /healthz."""

from __future__ import annotations

from dataclasses import asdict

from django.conf import settings

from analysis.ml.loaders import default_ensemble
from analysis.ml.registry import is_loaded, lanes_stats
from analysis.ml.weights import all_weights


def models_status() -> dict[str, object]:
    weights = [
        {
            "key": weight.key,
            "model": weight.model,
            "required": weight.required,
            "present": weight.present,
            "loaded": is_loaded(weight.key),
            "source": weight.source,
        }
        for weight in all_weights(settings.ML_MODELS_DIR)
    ]
    # Which networks are required depends on the default ensemble's file: unreadable, it
    # leaves every analysis unable to run, whatever weights are present.
    try:
        ensemble: dict[str, object] = {"ok": True, "members": list(default_ensemble().members)}
    except OSError as exc:
        ensemble = {"ok": False, "error": str(exc)}
    ok = ensemble["ok"] is True and all(
        weight["present"] for weight in weights if weight["required"]
    )
    # The model lanes this process has started: queued or running calls, and refusals.
    lanes = [asdict(stats) for stats in lanes_stats()]
    return {"ok": ok, "ensemble": ensemble, "weights": weights, "lanes": lanes}
