from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from visionserve.config import PIXEL_CEILING
from visionserve.errors import ImageTooLarge, InvalidImage
from visionserve.imaging import decode, displayed_pixels, probe

from .helpers import encode, header_bomb, image_bytes, png_bomb, with_exif_orientation

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


@pytest.mark.parametrize(("width", "height"), [(20000, 10000), (20000, 20000), (100000, 100000)])
def test_decompression_bomb_is_refused_from_the_header(
    monkeypatch: pytest.MonkeyPatch, width: int, height: int
) -> None:
    """Under Pillow's own guard (250 Mpx) our limit names the size; past it Pillow refuses at open."""
    bomb = png_bomb(width, height)
    assert len(bomb) < 2**21

    def no_decoding(self: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    named = f"{width}x{height}" if width * height <= PIXEL_CEILING else "over any limit"
    with pytest.raises(ImageTooLarge, match=named):
        probe(bomb, max_pixels=LIMIT)
    with pytest.raises(ImageTooLarge, match=named):
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


HEADER_FORMATS = ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"]


@pytest.fixture
def decoder_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call into a pixel decoder (Pillow's loaders), recorded instead of run."""
    from PIL import WebPImagePlugin

    calls: list[str] = []

    def refuse(self: Image.Image) -> None:
        calls.append(str(self.format))
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr(WebPImagePlugin.WebPImageFile, "load", refuse)
    return calls


@pytest.mark.parametrize("fmt", HEADER_FORMATS)
@pytest.mark.parametrize(("width", "height"), [(10000, 10000), (16384, 16384), (65000, 40)])
def test_header_bombs_in_every_format_are_refused_without_decoding(
    decoder_calls: list[str], fmt: str, width: int, height: int
) -> None:
    if fmt == "WEBP" and width > 16384:
        width, height = 16384, 2442  # lossless WebP stores 14-bit sides
    bomb = header_bomb(fmt, width, height)
    assert len(bomb) < 1000
    if width * height <= LIMIT:
        assert probe(bomb, max_pixels=LIMIT).width == width
        return
    named = f"{width}x{height}" if width * height <= PIXEL_CEILING else "over any limit"
    for check in (probe, decode):
        with pytest.raises(ImageTooLarge, match=named):
            check(bomb, max_pixels=LIMIT)
    assert decoder_calls == []


def test_png_exif_is_read_from_the_header_only(chelsea: Image.Image, decoder_calls: list[str]) -> None:
    """Pillow's PNG getexif loads every pixel to look for an eXIf chunk after them; the probe
    reads the one before them (where PNG puts it) and decodes nothing."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(chelsea.transpose(Image.Transpose.ROTATE_90), "PNG", exif=exif.tobytes())
    header = probe(data, max_pixels=LIMIT)
    assert (header.width, header.height) == (451, 300)
    assert decoder_calls == []


def test_png_exif_orientation_applies_when_decoded(chelsea: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(chelsea.transpose(Image.Transpose.ROTATE_90), "PNG", exif=exif.tobytes())
    decoded = decode(data, max_pixels=LIMIT)
    assert decoded.pixels.shape == (300, 451, 3)
    assert np.array_equal(decoded.pixels, np.asarray(chelsea.convert("RGB")))


def test_large_jpeg_decodes_reduced_to_what_the_model_needs(chelsea: Image.Image) -> None:
    big = chelsea.convert("RGB").resize((451 * 8, 300 * 8), Image.Resampling.BICUBIC)
    data = encode(big, "JPEG", quality=95)
    decoded = decode(data, max_pixels=LIMIT, needed=lambda w, h: (w // 8, h // 8))
    assert (decoded.width, decoded.height) == (3608, 2400)  # coordinates stay the original's
    assert decoded.pixels.shape == (600, 902, 3)  # a quarter of each side: twice what is needed
    full = decode(data, max_pixels=LIMIT)
    assert full.size is None
    assert full.pixels.shape == (2400, 3608, 3)
    assert displayed_pixels(decoded).shape == full.pixels.shape
    shrunk = np.asarray(Image.fromarray(full.pixels).resize((902, 600), Image.Resampling.BILINEAR), dtype=int)
    assert np.abs(shrunk - decoded.pixels.astype(int)).mean() < 3


def test_reduced_jpeg_keeps_its_exif_orientation(chelsea: Image.Image) -> None:
    big = chelsea.convert("RGB").resize((451 * 4, 300 * 4))
    data = with_exif_orientation(big, 6)
    decoded = decode(data, max_pixels=LIMIT, needed=lambda w, h: (w // 8, h // 8))
    assert (decoded.width, decoded.height) == (1804, 1200)
    assert decoded.pixels.shape == (300, 451, 3)
    assert decoded.size == (1804, 1200)


def test_other_formats_are_shrunk_by_a_whole_factor_right_after_decoding(chelsea: Image.Image) -> None:
    big = chelsea.convert("RGB").resize((451 * 4, 300 * 4))
    decoded = decode(encode(big, "PNG"), max_pixels=LIMIT, needed=lambda w, h: (w // 8, h // 8))
    assert decoded.size == (1804, 1200)
    assert decoded.pixels.shape == (300, 451, 3)
    expected = np.asarray(big.reduce(4), dtype=int)
    assert np.abs(decoded.pixels.astype(int) - expected).max() <= 1
    palette = decode(encode(big.quantize(64), "PNG"), max_pixels=LIMIT, needed=lambda w, h: (w // 8, h // 8))
    assert palette.pixels.shape == (300, 451, 3)  # colours averaged, not palette indices
    assert np.abs(palette.pixels.astype(int) - expected).mean() < 12


def test_transparent_images_shrink_to_the_same_picture_on_white() -> None:
    rgba = np.zeros((800, 800, 4), dtype=np.uint8)
    rgba[:, :, 0] = 255  # hidden red everywhere
    rgba[:400, :, 3] = 255  # top half: opaque red; bottom half: transparent (white as shown)
    decoded = decode(encode(Image.fromarray(rgba), "PNG"), max_pixels=LIMIT, needed=lambda w, h: (100, 100))
    assert decoded.pixels.shape == (200, 200, 3)
    assert tuple(decoded.pixels[10, 10]) == (255, 0, 0)
    assert tuple(decoded.pixels[190, 10]) == (255, 255, 255)


def test_small_images_are_decoded_whole() -> None:
    small = decode(image_bytes("dog_bike_car.jpg"), max_pixels=LIMIT, needed=lambda w, h: (w, h))
    assert small.size is None


def test_sixteen_bit_and_bilevel_images_keep_their_values_when_shrunk() -> None:
    ramp = np.tile(np.linspace(1000, 60000, 800, dtype=np.uint16), (400, 1))
    data = encode(Image.fromarray(ramp), "PNG")
    pixels = decode(data, max_pixels=LIMIT, needed=lambda w, h: (100, 50)).pixels
    assert pixels.shape == (100, 200, 3)
    assert pixels.min() == 0
    assert pixels.max() == 255  # the range mapped onto 0..255, not clipped at 255
    checker = Image.fromarray((np.indices((400, 800)).sum(axis=0) % 2 * 255).astype(np.uint8)).convert("1")
    gray = decode(encode(checker, "PNG"), max_pixels=LIMIT, needed=lambda w, h: (100, 50)).pixels
    assert abs(float(gray.mean()) - 127.5) < 2  # averaged to mid grey


@pytest.mark.parametrize("name", ["dog_bike_car.jpg", "grace_hopper.jpg", "china.jpg", "rocket.jpg"])
def test_plain_jpegs_decode_to_pillows_pixels(name: str) -> None:
    data = image_bytes(name)
    ours = decode(data, max_pixels=LIMIT).pixels
    assert np.array_equal(ours, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


def test_jpeg_scales_between_pillows_powers_of_two(chelsea: Image.Image) -> None:
    """M/8 scales: 3/8 of a side where Pillow's draft would keep 1/2."""
    big = chelsea.resize((451 * 8, 300 * 8), Image.Resampling.BICUBIC)
    data = encode(big, "JPEG", quality=95)
    decoded = decode(data, max_pixels=LIMIT, needed=lambda w, h: (w * 3 // 16, h * 3 // 16))
    assert decoded.pixels.shape == (900, 1353, 3)  # 3/8: the smallest at twice the need
    reference = np.asarray(big.resize((1353, 900), Image.Resampling.BILINEAR), dtype=int)
    assert np.abs(reference - decoded.pixels.astype(int)).mean() < 3


@pytest.mark.parametrize("mode", ["L", "progressive"])
def test_grayscale_and_progressive_jpegs_decode_as_pillow_does(chelsea: Image.Image, mode: str) -> None:
    image, options = (chelsea.convert("L"), {}) if mode == "L" else (chelsea, {"progressive": True})
    data = encode(image, "JPEG", quality=90, **options)
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(decode(data, max_pixels=LIMIT).pixels, expected)


def test_cmyk_jpegs_stay_with_pillow(chelsea: Image.Image) -> None:
    data = encode(chelsea.convert("CMYK"), "JPEG", quality=90)
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(decode(data, max_pixels=LIMIT).pixels, expected)


def test_a_jpeg_libjpeg_only_warns_about_decodes_as_pillow_decodes_it(chelsea: Image.Image) -> None:
    """Extra bytes before the end marker: libjpeg warns, simplejpeg (strict) refuses, Pillow
    decodes; so do we, through Pillow."""
    data = encode(chelsea, "JPEG", quality=90)
    warned = data[:-2] + b"\x00\x01\x02" + data[-2:]
    expected = np.asarray(Image.open(io.BytesIO(warned)).convert("RGB"))
    assert np.array_equal(decode(warned, max_pixels=LIMIT).pixels, expected)
