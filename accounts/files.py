"""Serving stored files through a view that has already checked who may see them.

Under ASGI, Django reads a streaming response with a synchronous iterator (a file) to its end,
into a list, before it sends the first byte: a 256 MB video was held in memory, and sent only
once all of it was read. The responses here hand the server one block at a time instead, so
that the server (fersite.daphne_limits) reads no faster than the client takes them. (On S3,
django-storages first fetches the whole object to a temporary file, spilled to disk past
FILE_UPLOAD_MAX_MEMORY_SIZE: the settings give it that limit. A byte range, see
stored_range, asks S3 for those bytes alone.)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

from asgiref.sync import sync_to_async
from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.storage import Storage
from django.db import connections
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, StreamingHttpResponse
from s3transfer.constants import ALLOWED_DOWNLOAD_ARGS
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

logger = logging.getLogger(__name__)

# What opening a stored file raises when it is gone: the disk's and S3's errors.
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)
# Bytes read from storage at a time.
BLOCK_SIZE = 256 * 1024


async def _block_by_block(response: StreamingHttpResponse) -> AsyncIterator[bytes]:
    """``response``'s synchronous content, each block read when asked for, on the request's
    own thread (where Django also closes the response: never while a block is being read)."""
    # The view is done with the database: a client that takes its time (a paused video) must
    # not hold a connection meanwhile.
    await sync_to_async(connections.close_all)()
    blocks = iter(cast(Iterator[bytes], response.streaming_content))
    step = sync_to_async(_next_block)
    while (block := await step(blocks)) is not None:
        yield block


def _next_block(blocks: Iterator[bytes]) -> bytes | None:
    return next(blocks, None)


class BlockStreamingResponse(StreamingHttpResponse):
    """A streaming response that an ASGI server gets block by block (see the module)."""

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _block_by_block(self)


class BlockFileResponse(FileResponse):
    """A file response that an ASGI server gets block by block (see the module)."""

    def __aiter__(self) -> AsyncIterator[bytes]:
        # Django's ASGI handler sets every file response's block size to its own chunk size
        # (64 KB); read larger blocks, fewer trips to a thread.
        self.block_size = BLOCK_SIZE
        return _block_by_block(self)


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
    response = BlockFileResponse(handle, content_type=content_type)
    response["Cache-Control"] = f"private, max-age={max_age}"
    return response


def stored_range(storage: Storage, name: str, start: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of the stored file ``name`` from ``start``, block by block.

    On S3 the object is asked for that range alone: opened as a file, it is first downloaded
    whole, so each seek of a video player fetched all of a long video again. The file is
    opened here, before the response starts, so that a missing one raises STORAGE_ERRORS to
    the caller rather than cutting a response short."""
    if isinstance(storage, S3Storage):
        # The object's key as django-storages makes it from a name (its location prefix), and
        # the parameters it reads objects with, as its own file does.
        key = storage._normalize_name(clean_name(name))
        wanted = storage.get_object_parameters(clean_name(name))
        params = {k: v for k, v in wanted.items() if k in ALLOWED_DOWNLOAD_ARGS}
        last = start + length - 1
        answer = storage.bucket.Object(key).get(Range=f"bytes={start}-{last}", **params)
        return _Blocks(answer["Body"], length)
    handle = storage.open(name, "rb")
    try:
        handle.seek(start)
    except BaseException:
        handle.close()
        raise
    return _Blocks(handle, length)


class _Blocks(Iterator[bytes]):
    """Up to ``length`` bytes of an open file (or S3 body), BLOCK_SIZE at a time. Closing it
    closes the file, read or not: Django closes a response's content when it is done with it,
    also when the client left before the first block."""

    def __init__(self, handle: Any, length: int) -> None:
        self.handle, self.left = handle, length

    def __next__(self) -> bytes:
        block = self.handle.read(min(self.left, BLOCK_SIZE)) if self.left > 0 else b""
        if not block:
            self.close()
            raise StopIteration
        self.left -= len(block)
        return block

    def close(self) -> None:
        self.handle.close()
