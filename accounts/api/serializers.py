"""Output serializers every app's API shares: the error shape, and a base for answers.

They live in the lowest app so that every app above can use them.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class _Output(serializers.Serializer):  # type: ignore[type-arg]
    """A serializer that only writes: its input side is never used."""

    def create(self, validated_data: Any) -> Any:
        raise NotImplementedError

    def update(self, instance: Any, validated_data: Any) -> Any:
        raise NotImplementedError


class ErrorBody(_Output):
    code = serializers.CharField()
    message = serializers.CharField()
    # DRF's metaclass takes declared fields off the class, so this does not hide .fields.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="per field, for validation_error"
    )


class ErrorOutput(_Output):
    """Every error: ``{"error": {"code": ..., "message": ...}}``."""

    error = ErrorBody()
