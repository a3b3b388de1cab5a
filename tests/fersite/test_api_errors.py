"""Django's own limits on a request (how many form fields, files or query parameters) are
answered in the API's error shape, not with Django's HTML error page."""

from __future__ import annotations

import pytest
from django.conf import LazySettings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.models import User


@pytest.fixture
def api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def _assert_error(response, code: str, status: int = 400) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    return str(error["message"])


@pytest.mark.django_db
def test_too_many_form_fields(api: APIClient, settings: LazySettings) -> None:
    fields = {f"field{i}": "x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    message = _assert_error(
        api.post("/api/v1/analyze", fields, format="multipart"), "validation_error"
    )
    assert "fields" in message


@pytest.mark.django_db
def test_too_many_files_in_a_batch(api: APIClient, settings: LazySettings) -> None:
    settings.BATCH_MAX_FILES = 3
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 4
    files = [SimpleUploadedFile(f"{i}.jpg", b"not a photo") for i in range(6)]
    response = api.post("/api/v1/jobs", {"kind": "batch", "files": files}, format="multipart")
    message = _assert_error(response, "validation_error")
    assert "at most 3" in message


@pytest.mark.django_db
def test_too_many_query_parameters(api: APIClient, settings: LazySettings) -> None:
    query = "&".join(f"p{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    _assert_error(api.get(f"/api/v1/analyses?{query}"), "validation_error")


@pytest.mark.django_db
def test_form_fields_over_the_memory_limit(api: APIClient, settings: LazySettings) -> None:
    # Files go to disk; form fields are held in memory, up to DATA_UPLOAD_MAX_MEMORY_SIZE.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("/api/v1/jobs", {"kind": "video", "name": "x" * 2000}, format="multipart")
    _assert_error(response, "file_too_large", status=413)
