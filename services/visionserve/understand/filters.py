"""The first convolution's weights, as numbers and as a picture (no Ray)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from visionserve.errors import Unprocessable


def first_conv(model: torch.nn.Module) -> tuple[str, torch.nn.Conv2d]:
    """The first Conv2d in the module's order (the one that sees pixels)."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            return name, module
    raise Unprocessable("this model has no convolution")


def filter_grid(weights: np.ndarray, cell: int = 8, gap: int = 1) -> Image.Image:
    """(out, in, kh, kw) weights as a grid of tiles, each filter min-max scaled on its own
    (CS231n's picture); RGB for three input channels, grey (their mean) otherwise; each weight
    a ``cell`` x ``cell`` block."""
    out, channels, kh, kw = weights.shape
    columns = int(np.ceil(np.sqrt(out)))
    rows = int(np.ceil(out / columns))
    tile_h, tile_w = kh * cell, kw * cell
    canvas = np.full((rows * (tile_h + gap) + gap, columns * (tile_w + gap) + gap, 3), 255, dtype=np.uint8)
    for index in range(out):
        w = weights[index]
        tile = w.transpose(1, 2, 0) if channels == 3 else np.repeat(w.mean(axis=0)[..., None], 3, axis=2)
        low, high = float(tile.min()), float(tile.max())
        scaled = (tile - low) / (high - low) if high > low else np.zeros_like(tile)
        block = np.kron((scaled * 255).round().astype(np.uint8), np.ones((cell, cell, 1), dtype=np.uint8))
        r, c = divmod(index, columns)
        top, left = gap + r * (tile_h + gap), gap + c * (tile_w + gap)
        canvas[top : top + tile_h, left : left + tile_w] = block
    return Image.fromarray(canvas)
