"""Maximally activating patches of a unit, with the part of the input each one sees (no Ray).

A unit is a channel of a layer; its activation at a spatial position depends on a region of
the input, its receptive field. Rather than trusting arithmetic over strides and paddings, the
region is measured: the pixels with a non-zero gradient of that one activation (clipped by
the image's border, as the unit saw it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from visionserve.understand.synthesis import layer_output


@dataclass(frozen=True)
class Peak:
    item: int
    y: int
    x: int
    value: float


def channel_maps(activation: torch.Tensor, channel: int) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W) of one channel."""
    return activation[:, channel].detach().numpy()


def top_peaks(maps: list[np.ndarray], k: int) -> list[Peak]:
    """The k strongest activations, one per image (the usual picture: k different images)."""
    best = []
    for item, values in enumerate(maps):
        y, x = np.unravel_index(int(np.argmax(values)), values.shape)
        best.append(Peak(item, int(y), int(x), float(values[y, x])))
    return sorted(best, key=lambda p: p.value, reverse=True)[:k]


def receptive_box(
    model: torch.nn.Module, layer: str, x: torch.Tensor, channel: int, y: int, x_pos: int
) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) in input pixels of the region that unit (channel, y, x) depends on."""
    with layer_output(model, layer) as features, torch.enable_grad():
        inputs = x.detach().clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(features(inputs)[0, channel, y, x_pos], inputs)
    support = gradient[0].abs().sum(dim=0) > 0
    rows, cols = torch.nonzero(support.any(dim=1)), torch.nonzero(support.any(dim=0))
    height, width = support.shape
    if len(rows) == 0:  # a unit whose gradient vanished (saturated): its cell's share of the input
        features_h, features_w = _feature_size(model, layer, x)
        return (
            x_pos * width // features_w,
            y * height // features_h,
            (x_pos + 1) * width // features_w,
            (y + 1) * height // features_h,
        )
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def _feature_size(model: torch.nn.Module, layer: str, x: torch.Tensor) -> tuple[int, int]:
    with layer_output(model, layer) as features, torch.no_grad():
        shape = features(x).shape
    return int(shape[-2]), int(shape[-1])
