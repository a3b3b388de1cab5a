"""Turning an uploaded picture into a square avatar, with bounded memory.

The accounts app sits below the analysis app, so it does not use the analysis decoder: an
avatar needs much less of it. The picture's size is checked from its header, a JPEG is decoded
at the smallest power-of-two reduction that still covers the avatar, and nothing else is kept.
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

AVATAR_SIZE = 256
FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP"}
# PNG, WebP and BMP cannot be decoded reduced: whole decodes run a few at a time.
_full_decodes = threading.BoundedSemaphore(2)


class AvatarError(ValueError):
    """A picture that cannot become an avatar; the message is for the person."""


def avatar_png(data: bytes, *, max_bytes: int, max_pixels: int, decode_pixels: int) -> bytes:
    """A 256x256 PNG of the picture's centre, upright. A picture over ``max_pixels`` is
    refused, and so is one over ``decode_pixels`` that cannot be decoded reduced (PNG, WebP,
    BMP). Raises AvatarError."""
    if not data:
        raise AvatarError("The file is empty.")
    if len(data) > max_bytes:
        raise AvatarError(f"The file is over the limit of {max_bytes / 1_048_576:.0f} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise AvatarError("The file is not a JPEG, PNG, WebP or BMP picture.") from exc
    if image.format not in FORMATS:
        raise AvatarError("The file is not a JPEG, PNG, WebP or BMP picture.")
    width, height = image.size
    reducible = image.format in ("JPEG", "MPO")
    limit = max_pixels if reducible else min(max_pixels, decode_pixels)
    if width * height > limit:
        raise AvatarError(f"The picture has more than {limit / 1e6:.0f} megapixels.")
    # A JPEG decodes straight to a reduced size that still covers the avatar twice over.
    image.draft("RGB", (AVATAR_SIZE * 2, AVATAR_SIZE * 2))
    # Other formats decode whole: a few at a time, so that many uploads cannot add up.
    with _full_decodes if not reducible else contextlib.nullcontext():
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError) as exc:
            raise AvatarError("The picture is damaged or truncated.") from exc
    if upright.mode in ("RGBA", "LA", "PA", "P"):
        rgba = upright.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        upright = Image.alpha_composite(background, rgba)
    square = ImageOps.fit(
        upright.convert("RGB"), (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS
    )
    buffer = io.BytesIO()
    square.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
