"""`manage.py check --deploy` with production-like variables reports nothing."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

from tests.conftest import REPO_ROOT


def _readme_production_variables() -> dict[str, str]:
    """The NAME=value pairs of README's production paragraph, as a reader would copy them."""
    readme = (REPO_ROOT / "README.md").read_text()
    paragraph = readme.split("- **Production**:", 1)[1].split("\n- ", 1)[0]
    return dict(re.findall(r"`(DJANGO_[A-Z_]+)=([^`]+)`", paragraph))


def test_check_deploy_is_clean_with_the_readmes_production_variables() -> None:
    variables = _readme_production_variables()
    assert variables["DJANGO_DEBUG"] == "false"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fersite.settings",
        # The two that README describes instead of giving a value.
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "emotions.example.org",
        **variables,
    }
    # The browser tests lift Django's async guard for themselves; a deployment must not.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_the_server_refuses_to_start_without_a_secret_key_outside_debug() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fersite.settings", "DJANGO_DEBUG": "false"}
    env.pop("DJANGO_SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
