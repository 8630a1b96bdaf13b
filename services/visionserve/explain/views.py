"""From a method's raw map to what a response carries, at the original image's size.

- ``raw``: the signed map, bilinearly upsampled to the model input and mapped back onto the
  original image (pixels the model never saw are 0), sent as float16 divided by ``scale``
  (its largest magnitude), so that no value overflows and ``raw * scale`` restores it.
- ``normalised``: CAM methods: negative evidence cut at the layer, upsampled, min-max (the
  pytorch-grad-cam convention); unsigned maps: min-max; signed maps: divided by the largest
  magnitude, so that 0 stays 0 and the sign stays visible. Then mapped like ``raw``.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from visionserve.explain.methods import Attribution
from visionserve_client.colours import Box, blend

UNSIGNED = ("saliency", "smoothgrad")
"""Methods whose maps are magnitudes; the others are signed (RISE: its mean removed)."""


def to_input(attribution: Attribution, height: int, width: int) -> np.ndarray:
    raw = attribution.raw.astype(np.float32)
    if raw.shape == (height, width):
        return raw
    tensor = torch.from_numpy(raw)[None, None]
    return F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)[0, 0].numpy()


def normalised(method: str, attribution: Attribution, height: int, width: int) -> np.ndarray:
    """The view at the model input's size: [0, 1] for CAM and unsigned maps, [-1, 1] for signed ones.

    CAM maps are cut at zero at the layer's resolution and then upsampled, as pytorch-grad-cam
    does (cutting after upsampling would move the map's edges)."""
    if attribution.clip_negative:
        clipped = Attribution(np.maximum(attribution.raw, 0), attribution.score)
        values = to_input(clipped, height, width)
    else:
        values = to_input(attribution, height, width)
    scaled: np.ndarray
    if attribution.clip_negative or method in UNSIGNED:
        values = values - values.min()
        scaled = values / (values.max() + 1e-7)
    else:
        scaled = values / (np.abs(values).max() + 1e-12)
    return scaled


def float16_b64(values: np.ndarray) -> tuple[str, float]:
    scale = float(np.abs(values).max()) or 1.0
    return base64.b64encode((values / scale).astype("<f2").tobytes()).decode("ascii"), scale


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def gray_png(view: np.ndarray, signed: bool) -> str:
    """A normalised view as an 8-bit PNG: [0, 1] -> 0..255; [-1, 1] -> 0..255 with 0 at exactly
    128 (``visionserve_client.colours.from_png`` reads it back)."""
    if signed:
        clipped = np.clip(view, -1, 1)
        levels = 128 + np.where(clipped >= 0, clipped * 127, clipped * 128)
    else:
        levels = np.clip(view, 0, 1) * 255
    return png_b64(Image.fromarray(levels.round().astype(np.uint8)))


def overlay_png(pixels: np.ndarray, view: np.ndarray, signed: bool, seen: Box | None = None) -> str:
    """The view on the image in the colours every view uses (``visionserve_client.colours``);
    outside ``seen``, the pixels the model saw, the photo is dimmed and hatched."""
    return png_b64(Image.fromarray(blend(pixels, view, signed, opacity=0.5, seen=seen)))
