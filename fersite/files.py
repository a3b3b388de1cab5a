"""Serving stored files through a view that has already checked who may see them."""

from __future__ import annotations

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404


def private_file_response(field: FieldFile, *, content_type: str, max_age: int) -> FileResponse:
    """Stream ``field`` from its storage (disk or S3); browsers may cache it for this user only."""
    if not field:
        raise Http404("There is no such file")
    response = FileResponse(field.open("rb"), content_type=content_type)
    response["Cache-Control"] = f"private, max-age={max_age}"
    return response
