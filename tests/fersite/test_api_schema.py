"""The OpenAPI schema says what the API answers: schemathesis calls every operation with data
generated from the schema and checks each answer against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_token_create
from analysis.ml import loaders
from analysis.ml.types import Box
from tests.analysis.fakes import FakeDetector, fake_scorer

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    detector = FakeDetector([Box(20, 50, 100, 100)])
    monkeypatch.setattr(loaders, "detector", lambda name, threads=2: detector)
    monkeypatch.setattr(loaders, "emotion_classifier", lambda **_: fake_scorer())


def test_the_schema_is_served_and_describes_the_responses(alice: User) -> None:
    client = APIClient()
    client.force_authenticate(alice)
    schema = client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    face = components["FaceOutput"]["properties"]
    for field in ("box", "emotions", "dominant_emotion", "confidence", "spread", "quality"):
        assert field in face
    analyze = schema["paths"]["/api/v1/analyze"]["post"]["responses"]
    assert analyze["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AnalyzeOutput"
    )
    # The fields identity features add to each face are documented, as optional.
    analyzed = components["AnalyzedFaceOutput"]
    for field in ("person", "person_similarity", "liveness"):
        assert field in analyzed["properties"]
        assert field not in analyzed.get("required", [])
    assert "box" in analyzed["properties"]
    assert {"400", "401", "413", "503"} <= set(analyze)
    export = schema["paths"]["/api/v1/analyses/export/{fmt}"]["get"]["responses"]["200"]
    assert {"text/csv", "application/json", "application/zip"} <= set(export["content"])


@pytest.fixture
def _connection_kept() -> Iterator[None]:
    """As Django's own test client does: requests served here must not close the test's
    database connection, which Django does at the end of each request (inside the test's
    transaction, that would lose it)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("_connection_kept")
def test_every_operation_answers_as_its_schema_says(
    alice: User, fake_models: None, save_for: Callable[..., object]
) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    save_for(alice, "something to read")
    headers = {"Authorization": f"Token {api_token_create(user=alice, name='schema').key}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", get_wsgi_application(), headers=headers
    )
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=checks)

        call()
