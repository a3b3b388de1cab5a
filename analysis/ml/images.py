"""Decoding uploaded bytes into an upright RGB array, refusing what should not be decoded.

The format is read from the bytes (never from the file name), the pixel count is checked from
the header before any pixel is decoded, and EXIF orientation is applied so that boxes are in
the coordinates a person sees.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from analysis.ml.types import RGBImage

ACCEPTED_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP"}
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000


class ImageError(ValueError):
    """An upload that cannot be analysed; ``code`` is the API's error code."""

    code = "invalid_image"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidImage(ImageError):
    code = "invalid_image"


class ImageTooLarge(ImageError):
    code = "image_too_large"


class FileTooLarge(ImageError):
    code = "file_too_large"


@dataclass(frozen=True)
class DecodedImage:
    pixels: RGBImage
    format: str
    exif_rotated: bool
    # 2, 4 or 8 when a very large JPEG was decoded at that fraction of its size.
    reduced_by: int = 1

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def decode_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    decode_pixels: int | None = None,
    gate: Callable[[int], AbstractContextManager[object]] | None = None,
) -> DecodedImage:
    """Decode JPEG, PNG, WebP or BMP bytes into an upright RGB image.

    ``max_pixels`` refuses a picture from its header. ``decode_pixels`` bounds what is actually
    decoded, and so the memory a small file can cost: a JPEG above it is decoded at a half, a
    quarter or an eighth of its size (its decoder can, at no extra cost), and other formats
    above it are refused. ``gate``, given the number of pixels about to be decoded, returns a
    context held while they are (a caller's way to bound how many large decodes run at once).

    Raises FileTooLarge, ImageTooLarge or InvalidImage, each with a message for a person.
    """
    check_file_size(len(data), max_bytes=max_bytes)
    if not data:
        raise InvalidImage("The file is empty.")
    try:
        # Our pixel limit below is checked on the header alone; Pillow's own check still
        # refuses the most extreme headers here, before anything is decoded.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(
            f"The image has far too many pixels; the limit is {max_pixels / 1e6:.0f} megapixels."
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage(
            "The file is not an image this app can read (JPEG, PNG, WebP or BMP)."
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage("The image is damaged or truncated and cannot be decoded.") from exc
    fmt = ACCEPTED_FORMATS.get(image.format or "")
    if fmt is None:
        raise InvalidImage(f"{image.format} images are not supported; use JPEG, PNG, WebP or BMP.")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {max_pixels / 1e6:.0f} megapixels."
        )
    if width < 1 or height < 1:
        raise InvalidImage("The image has no pixels.")
    reduced_by = 1
    if decode_pixels is not None and width * height > decode_pixels:
        reduced_by = _reduce(image, decode_pixels)
        if reduced_by == 1:
            raise ImageTooLarge(
                f"The image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); "
                f"the limit for {fmt} pictures is {decode_pixels / 1e6:.0f} megapixels "
                "(JPEG pictures may be larger)."
            )
    with gate(image.size[0] * image.size[1]) if gate else nullcontext():
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise InvalidImage("The image is damaged or truncated and cannot be decoded.") from exc
        rotated = upright.size != image.size or _orientation(image) not in (None, 1)
        pixels = _to_rgb(upright)
    return DecodedImage(pixels=pixels, format=fmt, exif_rotated=rotated, reduced_by=reduced_by)


def _reduce(image: Image.Image, decode_pixels: int) -> int:
    """Ask the JPEG decoder for the smallest power-of-two reduction that fits ``decode_pixels``;
    returns the reduction (1 when the format cannot be decoded reduced)."""
    if image.format not in ("JPEG", "MPO"):
        return 1
    width, height = image.size
    for factor in (2, 4, 8):
        # Pillow picks the reduction as size // target: a rounded-down target asks for exactly
        # this factor, whatever the picture's size.
        target = (max(1, width // factor), max(1, height // factor))
        if math.ceil(width / factor) * math.ceil(height / factor) <= decode_pixels:
            break
    else:
        return 1
    image.draft("RGB", target)
    if image.size[0] * image.size[1] > decode_pixels:
        return 1
    return round(width / image.size[0])


def check_file_size(size: int, *, max_bytes: int) -> None:
    """Raise FileTooLarge for a file of ``size`` bytes over the limit."""
    if size > max_bytes:
        raise FileTooLarge(
            f"The file is {size / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.0f} MB."
        )


def _orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(0x0112)
    except (OSError, SyntaxError, ValueError):
        return None
    return int(value) if value is not None else None


def _to_rgb(image: Image.Image) -> RGBImage:
    """RGB pixels; transparency is flattened onto white, as a viewer would show it."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    elif image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: scale its full range to 8 bits instead of clipping, as a viewer
        # shows it (a dark picture stays dark).
        array = np.asarray(image, dtype=np.float64)
        full_scale = 65535.0 if array.max() <= 65535 else float(array.max())
        image = Image.fromarray((array * (255.0 / full_scale)).round().astype(np.uint8))
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def encode_jpeg(pixels: RGBImage, *, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
