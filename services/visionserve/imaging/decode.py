"""Compressed image bytes -> validated RGB uint8 pixels.

``probe`` reads only the header (format and size) so that a decompression bomb, such as a
20000x20000 PNG of a few KB, is refused before any pixel is decoded. ``decode`` then yields
the image as displayed: EXIF orientation applied, first frame of an animation, and every
mode (grayscale, palette, RGBA, CMYK, 16-bit, float) converted to 8-bit RGB.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from visionserve.errors import ImageTooLarge, InvalidImage

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
_FORMAT_LIST = "JPEG, PNG, WebP, BMP, GIF or TIFF"

# Orientations 5-8 swap width and height when applied.
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}

# Our own pixel limit is checked from the header; Pillow's global one would otherwise warn
# or raise with a message that does not say which limit applies.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    """Size as displayed, i.e. after the EXIF orientation is applied."""


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray
    """(height, width, 3) uint8, RGB, as displayed."""
    format: str

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def _open(data: bytes) -> Image.Image:
    if not data:
        raise InvalidImage("the image is empty (0 bytes)")
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.UnidentifiedImageError:
        raise InvalidImage(f"not a supported image: send {_FORMAT_LIST} bytes") from None
    except Exception as exc:  # hostile headers raise struct.error, IndexError... as well as OSError
        raise InvalidImage(f"unreadable image header: {exc}") from None


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a malformed EXIF block must not fail an otherwise valid image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise InvalidImage(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,}: downscale it before sending"
        )


def probe(data: bytes, *, max_pixels: int) -> ImageHeader:
    """Read format and displayed size from the header; refuse images over ``max_pixels``."""
    with _open(data) as image:
        width, height = image.size
        if _orientation(image) in _TRANSPOSED_ORIENTATIONS:
            width, height = height, width
        _check_size(width, height, max_pixels)
        return ImageHeader(format=str(image.format), width=width, height=height)


@dataclass(frozen=True)
class JpegHeader:
    width: int
    height: int
    """Stored size, before the EXIF orientation."""
    orientation: int
    """EXIF orientation, 1-8 (1: stored upright)."""


def probe_plain_jpeg(data: bytes, *, max_pixels: int) -> JpegHeader | None:
    """The header of a baseline RGB or grayscale JPEG, which any JPEG decoder (nvJPEG
    included) yields alike; None for every other image (CMYK JPEGs, PNG...), which ``decode``
    handles. Refuses images over ``max_pixels`` like ``probe``."""
    with _open(data) as image:
        width, height = image.size
        _check_size(width, height, max_pixels)
        if image.format != "JPEG" or image.mode not in ("RGB", "L"):
            return None
        return JpegHeader(width=width, height=height, orientation=_orientation(image))


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Stored (H, W, C) pixels as displayed under an EXIF orientation (as ImageOps.exif_transpose)."""
    if orientation == 2:
        return pixels[:, ::-1]
    if orientation == 3:
        return pixels[::-1, ::-1]
    if orientation == 4:
        return pixels[::-1]
    if orientation == 5:
        return pixels.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(pixels, -1)
    if orientation == 7:
        return pixels.transpose(1, 0, 2)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(pixels, 1)
    return pixels


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit and float images: map the value range onto 0..255 instead of clipping.
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        gray = ((values - low) * scale).round().astype(np.uint8)
        return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2), "RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels carry arbitrary colour: composite onto white, as a viewer shows them.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def decode(data: bytes, *, max_pixels: int) -> DecodedImage:
    """Decode to RGB uint8 as displayed. Raises InvalidImage or ImageTooLarge."""
    with _open(data) as image:
        width, height = image.size
        _check_size(width, height, max_pixels)
        fmt = str(image.format)
        try:
            image.seek(0)  # first frame of GIF / multi-page TIFF / animated WebP
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            rgb = _to_rgb(upright)
            pixels = np.asarray(rgb, dtype=np.uint8)
        except Exception as exc:  # any decoder failure on the caller's bytes is a bad image
            raise InvalidImage(f"the {fmt} image could not be decoded: {exc}") from None
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise InvalidImage(f"decoded to an unexpected shape {pixels.shape}")
    return DecodedImage(pixels=np.ascontiguousarray(pixels), format=fmt)
