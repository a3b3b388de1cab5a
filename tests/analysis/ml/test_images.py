from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analysis.ml.images import (
    FileTooLarge,
    ImageError,
    ImageTooLarge,
    InvalidImage,
    decode_image,
)

ERROR_CODES = {"invalid image": "invalid_image", "image too large": "image_too_large"}


def _png(size: tuple[int, int], mode: str = "RGB", color: object = (10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")  # type: ignore[arg-type]
    return buffer.getvalue()


def _bad_files(testdata: Path) -> list[tuple[str, str]]:
    expected = json.loads((testdata / "expected.json").read_text())
    return [(name, ERROR_CODES[v["error"]]) for name, v in expected.items() if "error" in v]


def test_each_bad_file_gets_the_expected_error(testdata: Path) -> None:
    cases = _bad_files(testdata)
    assert len(cases) == 4
    for name, code in cases:
        with pytest.raises(ImageError) as caught:
            decode_image((testdata / name).read_bytes())
        assert caught.value.code == code, name
        assert caught.value.message


def test_a_webp_named_jpg_is_read_as_webp(testdata: Path) -> None:
    decoded = decode_image((testdata / "bad" / "webp_named.jpg").read_bytes())
    assert decoded.format == "WebP"
    assert decoded.pixels.shape == (536, 347, 3)


def test_exif_orientation_is_applied(testdata: Path) -> None:
    upright = decode_image((testdata / "scenes" / "single_large.jpg").read_bytes())
    rotated = decode_image((testdata / "scenes" / "single_exif_rotated.jpg").read_bytes())
    assert rotated.exif_rotated
    assert not upright.exif_rotated
    assert rotated.pixels.shape == upright.pixels.shape
    # Same picture once turned upright: the pixels agree up to JPEG noise.
    difference = np.abs(rotated.pixels.astype(int) - upright.pixels.astype(int)).mean()
    assert difference < 8


def test_the_pixel_limit_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse_to_decode(self: Image.Image) -> None:
        raise AssertionError("the pixels were decoded")

    data = _png((3000, 2000))
    monkeypatch.setattr(Image.Image, "load", refuse_to_decode)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", refuse_to_decode)
    with pytest.raises(ImageTooLarge, match="megapixels"):
        decode_image(data, max_pixels=5_000_000)


def test_a_file_over_the_limit_is_refused() -> None:
    with pytest.raises(FileTooLarge, match="limit is 1 MB"):
        decode_image(b"\xff" * (1_048_576 + 1), max_bytes=1_048_576)


def test_formats_other_than_the_four_are_refused() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="GIF")
    with pytest.raises(InvalidImage, match="GIF"):
        decode_image(buffer.getvalue())


def test_transparency_is_flattened_onto_white() -> None:
    decoded = decode_image(_png((4, 4), mode="RGBA", color=(0, 0, 0, 0)))
    assert decoded.pixels.shape == (4, 4, 3)
    assert (decoded.pixels == 255).all()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP"])
def test_the_four_formats_decode(fmt: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 100, 50)).save(buffer, format=fmt)
    decoded = decode_image(buffer.getvalue())
    assert decoded.pixels.shape == (10, 20, 3)
    assert abs(int(decoded.pixels[5, 10, 0]) - 200) < 8
