"""Settings entry point: everything lives in base.py and is driven by environment variables."""

from fersite.settings.base import *  # noqa: F403
