from __future__ import annotations

from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "analysis"

    # Hooks the project calls without knowing this app's insides (see fersite.health and
    # fersite.asgi).
    def health(self) -> dict[str, dict[str, object]]:
        """The models' part of /healthz: each weight file, present and loaded or not."""
        from analysis.health import models_status

        return {"models": models_status()}

    def asgi_started(self) -> None:
        """Load the models in the background when ML_WARMUP is on."""
        from analysis.warmup import start_warm_up

        start_warm_up()
