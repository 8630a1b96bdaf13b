"""Mask encodings on the wire: COCO RLE and PNG images, both at the original image size."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pycocotools import mask as coco_mask

from visionserve_client.types import RLE


def encode_rle(mask: np.ndarray) -> RLE:
    """A boolean (H, W) mask as COCO's compressed RLE."""
    # A bool array read as bytes (same size, same strides): one column-major copy, not two.
    encoded = coco_mask.encode(np.asfortranarray(mask).view(np.uint8))
    height, width = (int(v) for v in encoded["size"])
    return RLE(size=(height, width), counts=encoded["counts"].decode("ascii"))


def decode_rle(rle: RLE) -> np.ndarray:
    """The boolean (H, W) mask of an RLE."""
    encoded = {"size": list(rle.size), "counts": rle.counts.encode("ascii")}
    mask: np.ndarray = coco_mask.decode(encoded).astype(bool)
    return mask


def png_base64(array: np.ndarray) -> str:
    """An (H, W) uint8 or uint16 array as a base64 PNG (lossless)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", optimize=False, compress_level=3)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


BAND_PIXELS = 1 << 20
"""Output pixels per band of ``upsampled_bands``: a few MB per class, whatever the image."""


def _linear_taps(size: int, source: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each of ``size`` output positions, the two source positions bilinear resampling
    reads and the second one's weight, computed as F.interpolate(align_corners=False) does."""
    position = ((torch.arange(size, dtype=torch.float32) + 0.5) * (source / size) - 0.5).clamp(min=0)
    first = position.floor().long().clamp(max=source - 1)
    return first, (first + 1).clamp(max=source - 1), position - first


def upsampled_bands(maps: torch.Tensor, height: int, width: int) -> Iterator[tuple[int, torch.Tensor]]:
    """(top row, (C, rows, width) band) of (C, h, w) maps resized bilinearly to (height, width),
    band by band: the values of ``upsample`` (to float rounding), without ever holding a whole
    (C, height, width) stack, which for a 40 Mpx image is 160 MB a class. Each band's rows are
    blended from the small maps (C, rows, w), then widened by F.interpolate, which leaves the
    rows as they are (a scale of one) and resamples the columns as it would for the whole."""
    rows = max(1, BAND_PIXELS // width)
    top_rows, bottom_rows, down = _linear_taps(height, maps.shape[1])
    for top in range(0, height, rows):
        band = slice(top, min(height, top + rows))
        weight = down[band][None, :, None]
        vertical = maps[:, top_rows[band]] * (1 - weight) + maps[:, bottom_rows[band]] * weight
        size = (vertical.shape[1], width)
        yield top, F.interpolate(vertical[None], size=size, mode="bilinear", align_corners=False)[0]


def upsample(maps: np.ndarray, height: int, width: int) -> torch.Tensor:
    """(C, h, w) float maps -> (C, H, W), bilinear."""
    tensor = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[None]
    return F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)[0]
