"""Test images and small geometry helpers shared by the tests."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from visionserve.config import ServiceConfig

ROOT = Path(__file__).resolve().parents[1]
IMAGES = Path(os.environ.get("VISIONSERVE_TEST_IMAGES", ROOT.parent / "shared" / "images"))


def image_bytes(name: str) -> bytes:
    path = IMAGES / name
    if not path.is_file():
        raise FileNotFoundError(f"test photo {path} missing: set VISIONSERVE_TEST_IMAGES")
    return path.read_bytes()


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit PNG of width x height that is all zeros: a few KB that would decode to GBs."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def header_bomb(fmt: str, width: int, height: int) -> bytes:
    """A small real image in ``fmt`` whose header is rewritten to declare width x height: what a
    decoder would allocate for if it trusted the header. The pixel data stays the small image's."""
    small = Image.new("RGB", (8, 8), (200, 30, 30))
    data = bytearray(encode(small, fmt, **({"lossless": True} if fmt == "WEBP" else {})))
    if fmt == "PNG":
        data[16:24] = struct.pack(">II", width, height)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    elif fmt == "JPEG":
        sof = data.index(b"\xff\xc0")
        data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    elif fmt == "GIF":
        data[6:10] = struct.pack("<HH", width, height)  # logical screen
        descriptor = data.index(b"\x2c", 13)
        data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    elif fmt == "BMP":
        data[18:26] = struct.pack("<ii", width, height)
    elif fmt == "WEBP":  # lossless: 14-bit width-1 and height-1 after the 0x2f signature
        signature = data.index(b"VP8L") + 8
        bits = int.from_bytes(data[signature + 1 : signature + 5], "little")
        bits = (bits & ~0x0FFFFFFF) | (width - 1) | ((height - 1) << 14)
        data[signature + 1 : signature + 5] = bits.to_bytes(4, "little")
    elif fmt == "TIFF":
        data = bytearray(_tiff_header(width, height))
    else:
        raise ValueError(fmt)
    return bytes(data)


def _tiff_header(width: int, height: int) -> bytes:
    """An uncompressed RGB TIFF declaring width x height with one strip of 3 bytes."""
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 2),
            (273, 4, 8), (277, 3, 3), (278, 4, height), (279, 4, 3)]  # fmt: skip
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", t, k, 1, v) for t, k, v in tags)
    return b"II*\x00" + struct.pack("<I", 11) + b"\x00\x00\x00" + ifd + b"\x00\x00\x00\x00"


def with_exif_orientation(upright: Image.Image, orientation: int) -> bytes:
    """A JPEG whose stored pixels need ``orientation`` applied to look like ``upright``."""
    stored = {
        1: upright,
        3: upright.transpose(Image.Transpose.ROTATE_180),
        6: upright.transpose(Image.Transpose.ROTATE_90),
        8: upright.transpose(Image.Transpose.ROTATE_270),
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def iou(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


CAT_LABELS = {"tabby", "tiger cat", "Egyptian cat"}
DOG_BIKE_CAR = {
    "dog": (133, 207, 325, 542),
    "bicycle": (46, 132, 572, 431),
    "car": (467, 78, 692, 172),
}


def classifier_app(config: ServiceConfig, **classifier_changes: object) -> ServiceConfig:
    """CONFIG's classifier alone (with CLASSIFIER_CHANGES), no explainer, no pipelines and no
    CPUs reserved for the ingress: an application of a test's own beside the session's."""
    classifier = config.models[0]
    return config.model_copy(
        update={
            "ingress": config.ingress.model_copy(update={"num_cpus": 0}),
            "explainer": config.explainer.model_copy(update={"enabled": False}),
            "models": [classifier.model_copy(update=classifier_changes)],
            "pipelines": [],
        }
    )


def red_and_blue_png() -> bytes:
    """64x64: the left half pure red, the right half pure blue (the colour-cell detector's input)."""
    pixels = np.zeros((64, 64, 3), dtype=np.uint8)
    pixels[:, :32, 0] = 255
    pixels[:, 32:, 2] = 255
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()
