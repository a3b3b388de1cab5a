from __future__ import annotations

import os
from unittest import mock

import pytest
from django.conf import LazySettings
from django.db import OperationalError
from django.test import Client

from accounts.models import User
from accounts.services import api_token_create
from analysis.ml import loaders
from tests.conftest import login_verified
from tests.factories import UserFactory


@pytest.fixture
def staff_client(db: None) -> Client:
    client = Client()
    login_verified(client, UserFactory(email="admin@example.org", username="admin", is_staff=True))
    return client


@pytest.mark.django_db
def test_anonymous_callers_learn_only_up_or_down(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "up"}
    with mock.patch(
        "fersite.health.connection.cursor", side_effect=OperationalError("connection refused")
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "down"}


@pytest.mark.django_db
def test_a_signed_in_user_who_is_not_staff_learns_only_up_or_down(alice: User) -> None:
    client = Client()
    login_verified(client, alice)
    assert client.get("/healthz").json() == {"status": "up"}


@pytest.mark.django_db
def test_an_api_token_sees_the_details(client: Client, alice: User) -> None:
    key = api_token_create(user=alice, name="monitor").key
    body = client.get("/healthz", HTTP_AUTHORIZATION=f"Token {key}").json()
    assert body["database"]["ok"] is True
    assert client.get("/healthz", HTTP_AUTHORIZATION="Token wrong").json() == {"status": "up"}


@pytest.mark.django_db
def test_it_reports_database_channel_layer_and_models(staff_client: Client) -> None:
    client = staff_client
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["channel_layer"]["ok"] is True
    keys = {weight["key"]: weight for weight in body["models"]["weights"]}
    assert keys["emotion"]["present"] is True
    assert keys["expression"]["present"] is True
    assert keys["mtcnn"]["present"] is True
    assert keys["blazeface"]["present"] is True
    assert keys["realesrgan"]["present"] is True


@pytest.mark.django_db
def test_it_uses_redis_when_the_test_command_starts_it(staff_client: Client) -> None:
    client = staff_client
    # Not a skip: a run without the test command's Redis must not look green.
    assert os.environ.get("REDIS_URL"), "REDIS_URL is not set: run the suite through make test"
    body = client.get("/healthz").json()
    assert body["channel_layer"] == {"ok": True, "backend": "RedisChannelLayer"}


@pytest.mark.django_db
def test_it_answers_503_when_the_database_is_unreachable(staff_client: Client) -> None:
    client = staff_client
    with mock.patch(
        "fersite.health._ping_database", side_effect=OperationalError("connection refused")
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["database"]["ok"] is False
    # The public answer names the kind of failure, never the connection details.
    assert body["database"]["error"] == "OperationalError"


@pytest.mark.django_db
def test_it_reports_degraded_when_the_channel_layer_fails(
    staff_client: Client, settings: LazySettings
) -> None:
    client = staff_client
    # Nothing listens on port 1: the Redis layer cannot connect.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["channel_layer"]["ok"] is False


@pytest.mark.django_db
@pytest.mark.parametrize("network", loaders.NETWORKS)
def test_an_emotion_networks_weights_are_required_while_the_default_ensemble_runs_it(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch, network: str
) -> None:
    import dataclasses

    from analysis.ml import weights

    real = weights.all_weights
    key = loaders.MODEL_KEYS[network]

    def without_its_weights(models_dir: object) -> list[object]:
        found = real(models_dir)  # type: ignore[arg-type]
        return [dataclasses.replace(w, path=None) if w.key == key else w for w in found]

    healthy = staff_client.get("/healthz").json()
    monkeypatch.setattr("analysis.health.all_weights", without_its_weights)
    body = staff_client.get("/healthz").json()
    entry = next(w for w in body["models"]["weights"] if w["key"] == key)
    assert entry["present"] is False
    runs = network in loaders.default_ensemble().members
    assert entry["required"] is runs
    assert healthy["models"]["ok"] is True
    assert body["models"]["ok"] is not runs
    if runs:
        assert body["status"] == "degraded"


@pytest.mark.django_db
def test_an_unreadable_ensemble_file_degrades_the_service(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable() -> object:
        raise OSError("ensemble.json is not a readable choice of networks")

    assert staff_client.get("/healthz").json()["models"]["ensemble"]["ok"] is True
    monkeypatch.setattr("analysis.health.default_ensemble", unreadable)
    body = staff_client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["models"]["ok"] is False
    assert body["models"]["ensemble"] == {
        "ok": False,
        "error": "ensemble.json is not a readable choice of networks",
    }


def test_the_server_start_warms_the_models_up_when_asked(
    settings: LazySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from django.apps import apps

    from analysis import services

    done = threading.Event()
    monkeypatch.setattr(services, "models_warm_up", done.set)
    settings.ML_WARMUP = False
    apps.get_app_config("analysis").asgi_started()  # type: ignore[attr-defined]
    assert not done.wait(0.3)
    settings.ML_WARMUP = True
    apps.get_app_config("analysis").asgi_started()  # type: ignore[attr-defined]
    assert done.wait(5)


@pytest.mark.ml
@pytest.mark.django_db
def test_it_lists_the_model_lanes_and_a_model_loaded_in_one_of_them(staff_client: Client) -> None:
    from analysis import services as analysis_services
    from analysis.ml import loaders

    analysis_services.in_lane(analysis_services.LIVE, loaders.blazeface_detector)
    body = staff_client.get("/healthz").json()
    keys = {weight["key"]: weight for weight in body["models"]["weights"]}
    # Loaded once per lane, under the lane's name: still reported as loaded.
    assert keys["blazeface"]["loaded"] is True
    lanes = {lane["name"]: lane for lane in body["models"]["lanes"]}
    assert set(lanes) == {"live", "interactive", "heavy"}
    assert lanes["live"]["done"] >= 1
    assert lanes["live"]["threads"] == 1
    assert lanes["heavy"]["capacity"] == 8
