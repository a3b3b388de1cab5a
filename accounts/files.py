"""Serving stored files through a view that has already checked who may see them."""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.storage import Storage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404

logger = logging.getLogger(__name__)

# What opening a stored file raises when it is gone: the disk's and S3's errors.
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)


def private_file_response(field: FieldFile, *, content_type: str, max_age: int) -> FileResponse:
    """Stream ``field`` from its storage (disk or S3); browsers may cache it for this user only."""
    if not field:
        raise Http404("There is no such file")
    return stored_file_response(
        field.storage, str(field.name), content_type=content_type, max_age=max_age
    )


def stored_file_response(
    storage: Storage, name: str, *, content_type: str, max_age: int
) -> FileResponse:
    """Stream the stored file ``name``; browsers may cache it for this user only."""
    try:
        handle = storage.open(name, "rb")
    except STORAGE_ERRORS as exc:
        # The row outlived its file (lost disk, bucket cleaned by hand): a 404, logged.
        logger.warning("Stored file %s cannot be opened: %s", name, exc)
        raise Http404("The file is missing from storage") from exc
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = f"private, max-age={max_age}"
    return response
