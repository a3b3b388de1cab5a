"""One error shape for the whole API: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from analysis.ml.images import ImageError
from analysis.services import Busy, FeatureUnavailable


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ImageError):
        return Response(
            {"error": {"code": exc.code, "message": exc.message}},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Busy):
        return Response(
            {"error": {"code": exc.code, "message": str(exc)}},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, FeatureUnavailable):
        return Response(
            {"error": {"code": exc.code, "message": str(exc)}},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
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
