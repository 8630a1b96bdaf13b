"""Mutated images through the imaging layer: each decodes, or is a typed 4xx, within 2 s.

Seeds in every accepted format and awkward mode (EXIF-rotated and CMYK and progressive JPEG,
RGBA / 16-bit / palette PNG, WebP, animated GIF, compressed TIFF, BMP), then hypothesis
mutates them: truncation, flipped bytes, random windows written over (header sizes among
them), inserted and deleted runs, and sizes written into the header outright.
"""

from __future__ import annotations

import io
import struct
import time
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from visionserve.errors import ServiceError
from visionserve.imaging import decode
from visionserve.runtime.jpeg import decode_on_device

MAX_PIXELS = 40_000_000  # the default config's limit
DEADLINE_S = 2.0


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    frames = [Image.fromarray(rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)) for _ in range(3)]
    return [
        _save(rgb, "JPEG", quality=80, exif=exif.tobytes()),
        _save(rgb, "JPEG", quality=80, progressive=True),
        _save(rgb.convert("CMYK"), "JPEG"),
        _save(rgb.convert("RGBA"), "PNG"),
        _save(Image.fromarray((rng.integers(0, 65535, (40, 50))).astype(np.uint16)), "PNG"),
        _save(rgb.convert("P"), "PNG"),
        _save(rgb, "WEBP", quality=70),
        _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0),
        _save(rgb, "TIFF", compression="tiff_deflate"),
        _save(rgb, "BMP"),
    ]


SEEDS = _seeds()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "window", "insert", "delete", "size"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "truncate":
            del data[at:]
        elif kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "window":
            window = draw(st.binary(min_size=1, max_size=8))
            data[at : at + len(window)] = window
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:  # a plausible or absurd width and height where headers keep them
            width, height = (
                draw(st.sampled_from([0, 1, 7, 4096, 65535, 2**31 - 1])),
                draw(st.integers(0, 70000)),
            )
            data[at : at + 8] = struct.pack(">II", width, height)
        if not data:
            break
    return bytes(data)


def _decoded_or_4xx(decoder: object, data: bytes) -> None:
    started = time.perf_counter()
    refused: ServiceError | None = None
    try:
        image = decoder(data, max_pixels=MAX_PIXELS)  # type: ignore[operator]
    except ServiceError as exc:
        refused = exc
    assert time.perf_counter() - started < DEADLINE_S
    if refused is not None:
        assert 400 <= refused.status < 500, f"{type(refused).__name__} {refused.status}: {refused.message}"
        return
    assert image.pixels.dtype == np.uint8
    assert image.pixels.ndim == 3
    assert image.pixels.shape[2] == 3
    assert image.width * image.height <= MAX_PIXELS


def _fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=timedelta(seconds=DEADLINE_S * 2),  # hypothesis's own, generation included
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=True,  # the same cases on every run: a failure reproduces
        database=None,
    )


@pytest.mark.timeout(900)
@_fuzz(10_000)
@given(mutated())
def test_imaging_decodes_or_refuses_10000_mutated_images(data: bytes) -> None:
    _decoded_or_4xx(decode, data)


@pytest.mark.timeout(600)
@_fuzz(2_000)
@given(mutated())
def test_torchvision_jpeg_path_decodes_or_refuses_mutated_images(data: bytes) -> None:
    _decoded_or_4xx(lambda d, max_pixels: decode_on_device(d, max_pixels=max_pixels, device="cpu"), data)


def test_every_seed_decodes() -> None:
    for seed in SEEDS:
        assert decode(seed, max_pixels=MAX_PIXELS).pixels.shape[2] == 3
