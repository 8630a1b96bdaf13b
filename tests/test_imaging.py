from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from visionserve.errors import ImageTooLarge, InvalidImage
from visionserve.imaging import decode, probe

from .helpers import encode, image_bytes, png_bomb, with_exif_orientation

LIMIT = 40_000_000


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    return Image.open(io.BytesIO(image_bytes("chelsea.png"))).convert("RGB")


@pytest.mark.parametrize(
    ("fmt", "options", "exact"),
    [
        ("JPEG", {"quality": 95}, False),
        ("PNG", {}, True),
        ("WEBP", {"lossless": True}, True),
        ("BMP", {}, True),
        ("TIFF", {}, True),
    ],
)
def test_every_supported_format_decodes_to_rgb(
    chelsea: Image.Image, fmt: str, options: dict[str, object], exact: bool
) -> None:
    decoded = decode(encode(chelsea, fmt, **options), max_pixels=LIMIT)
    assert decoded.format == fmt
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.shape == (300, 451, 3)
    difference = np.abs(decoded.pixels.astype(int) - np.asarray(chelsea, dtype=int)).mean()
    assert difference == 0 if exact else difference < 3


def test_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (32, 24), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    decoded = decode(data, max_pixels=LIMIT)
    assert decoded.format == "GIF"
    assert tuple(decoded.pixels[10, 10]) == (255, 0, 0)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(chelsea: Image.Image, orientation: int) -> None:
    data = with_exif_orientation(chelsea, orientation)
    header = probe(data, max_pixels=LIMIT)
    decoded = decode(data, max_pixels=LIMIT)
    assert (header.width, header.height) == (451, 300)
    assert (decoded.width, decoded.height) == (451, 300)
    difference = np.abs(decoded.pixels.astype(int) - np.asarray(chelsea, dtype=int)).mean()
    assert difference < 4


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("L", "PNG"),
        ("P", "PNG"),
        ("RGBA", "PNG"),
        ("LA", "PNG"),
        ("CMYK", "JPEG"),
        ("CMYK", "TIFF"),
        ("1", "PNG"),
    ],
)
def test_modes_are_converted_to_rgb(chelsea: Image.Image, mode: str, fmt: str) -> None:
    decoded = decode(encode(chelsea.convert(mode), fmt), max_pixels=LIMIT)
    assert decoded.pixels.shape == (300, 451, 3)
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.std() > 10  # still the picture, not a flat fill


def test_transparent_pixels_become_white() -> None:
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    image.putpixel((0, 0), (255, 0, 0, 255))
    pixels = decode(encode(image, "PNG"), max_pixels=LIMIT).pixels
    assert tuple(pixels[0, 0]) == (255, 0, 0)
    assert tuple(pixels[7, 7]) == (255, 255, 255)


def test_palette_with_transparency_is_composited() -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    data = encode(image, "PNG", transparency=0)
    pixels = decode(data, max_pixels=LIMIT).pixels
    assert tuple(pixels[1, 1]) == (0, 255, 0)
    assert tuple(pixels[0, 0]) == (255, 255, 255)


def test_sixteen_bit_uses_the_whole_range() -> None:
    ramp = np.tile(np.linspace(1000, 60000, 64, dtype=np.uint16), (16, 1))
    image = Image.fromarray(ramp)  # I;16
    pixels = decode(encode(image, "PNG"), max_pixels=LIMIT).pixels
    assert pixels.shape == (16, 64, 3)
    assert pixels.min() == 0
    assert pixels.max() == 255


def test_decompression_bomb_is_refused_from_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = png_bomb(20000, 20000)
    assert len(bomb) < 100_000

    def no_decoding(self: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageTooLarge, match="20000x20000"):
        probe(bomb, max_pixels=LIMIT)
    with pytest.raises(ImageTooLarge):
        decode(bomb, max_pixels=LIMIT)


def test_truncated_jpeg_is_invalid() -> None:
    data = image_bytes("dog_bike_car.jpg")
    with pytest.raises(InvalidImage, match="could not be decoded"):
        decode(data[: len(data) // 2], max_pixels=LIMIT)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world", b"%PDF-1.4 not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 10],
)
def test_non_images_are_invalid(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        probe(data, max_pixels=LIMIT)
    with pytest.raises(InvalidImage):
        decode(data, max_pixels=LIMIT)


def test_rotated_size_counts_for_probe(chelsea: Image.Image) -> None:
    data = with_exif_orientation(chelsea, 6)
    stored = Image.open(io.BytesIO(data))
    assert stored.size == (300, 451)
    assert ImageOps.exif_transpose(stored).size == (451, 300)
    assert (probe(data, max_pixels=LIMIT).width, probe(data, max_pixels=LIMIT).height) == (451, 300)
