"""One error shape for the whole API: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


@runtime_checkable
class ApiError(Protocol):
    """An app's own error that the API answers as itself: the apps' exceptions (a bad
    picture, a missing model, a full queue) carry these attributes, so that this module needs
    to import none of them."""

    code: str
    http_status: int


def _error(
    code: str, message: str, status: int = 400, headers: dict[str, str] | None = None
) -> Response:
    return Response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApiError) and not isinstance(exc, exceptions.APIException):
        retry_after = getattr(exc, "retry_after", None)
        return _error(
            exc.code,
            getattr(exc, "message", None) or str(exc),
            status=exc.http_status,
            headers={"Retry-After": str(retry_after)} if retry_after else None,
        )
    # Django's limits on a request, met while DRF reads its form or query, would otherwise
    # reach Django's HTML 400 page.
    if isinstance(exc, TooManyFilesSent):
        return _error(
            "validation_error",
            f"Too many files in one request: at most {settings.BATCH_MAX_FILES}.",
        )
    if isinstance(exc, TooManyFieldsSent):
        return _error(
            "validation_error",
            "Too many form fields or query parameters in one request: at most "
            f"{settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}.",
        )
    if isinstance(exc, RequestDataTooBig):
        return _error("file_too_large", "The request's form fields are too large.", status=413)
    # Django's own 404 and 403 become DRF's, so that they get the same error shape.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        body: dict[str, Any] = {
            "code": "validation_error",
            "message": _first_message(exc.detail),
            "fields": exc.detail,
        }
    else:
        codes = exc.get_codes()
        body = {
            "code": codes if isinstance(codes, str) else exc.default_code,
            "message": _first_message(exc.detail),
        }
    response.data = {"error": body}
    return response
