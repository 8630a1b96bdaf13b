"""Mask encodings on the wire: COCO RLE and PNG images, both at the original image size."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pycocotools import mask as coco_mask

from visionserve_client.types import RLE


def encode_rle(mask: np.ndarray) -> RLE:
    """A boolean (H, W) mask as COCO's compressed RLE."""
    encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    height, width = (int(v) for v in encoded["size"])
    return RLE(size=(height, width), counts=encoded["counts"].decode("ascii"))


def decode_rle(rle: RLE) -> np.ndarray:
    """The boolean (H, W) mask of an RLE."""
    encoded = {"size": list(rle.size), "counts": rle.counts.encode("ascii")}
    return coco_mask.decode(encoded).astype(bool)


def png_base64(array: np.ndarray) -> str:
    """An (H, W) uint8 or uint16 array as a base64 PNG (lossless)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", optimize=False, compress_level=3)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def upsample(maps: np.ndarray, height: int, width: int) -> torch.Tensor:
    """(C, h, w) float maps -> (C, H, W), bilinear."""
    tensor = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[None]
    return F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)[0]
