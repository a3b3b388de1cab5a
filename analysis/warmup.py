"""Loading the models when the server starts, when ML_WARMUP is on.

It runs in a background thread, so the server answers at once. Each model is loaded as its
own call in the lanes that use it (see analysis.services.in_lane), so a request that
arrives meanwhile waits at most for the model being loaded, then takes its turn.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings

logger = logging.getLogger(__name__)


def _warm_up() -> None:
    from analysis.services import models_warm_up

    try:
        models_warm_up()
    except Exception:
        # A failed warm-up must not stop the server: the error shows again on first use.
        logger.exception("Warming up the models failed")


def start_warm_up() -> threading.Thread | None:
    if not settings.ML_WARMUP:
        return None
    thread = threading.Thread(target=_warm_up, name="ml-warmup", daemon=True)
    thread.start()
    return thread
