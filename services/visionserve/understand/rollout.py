"""Attention rollout (Abnar & Zuidema 2020) for vision transformers (no Ray).

Each block's attention, averaged over heads, plus the identity for the residual connection
(0.5 A + 0.5 I, rows renormalised), multiplied through the blocks: how much each input patch
flows into the class token at the end. Weights are read by asking each attention module for
them during one forward pass; the served module is unchanged afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from visionserve.errors import Unprocessable


def attention_modules(model: torch.nn.Module) -> list[torch.nn.MultiheadAttention]:
    return [m for m in model.modules() if isinstance(m, torch.nn.MultiheadAttention)]


@contextmanager
def _weights_of(modules: list[torch.nn.MultiheadAttention]) -> Iterator[list[torch.Tensor]]:
    seen: list[torch.Tensor] = []
    originals = [m.forward for m in modules]

    def asking(original: Any) -> Any:
        def forward(*args: Any, **kwargs: Any) -> Any:
            kwargs["need_weights"] = True
            kwargs["average_attn_weights"] = True
            output, weights = original(*args, **kwargs)
            seen.append(weights.detach())
            return output, weights

        return forward

    for module, original in zip(modules, originals, strict=True):
        module.forward = asking(original)  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        for module, original in zip(modules, originals, strict=True):
            module.forward = original  # type: ignore[method-assign]


def rollout(model: torch.nn.Module, x: torch.Tensor, discard_ratio: float = 0.0) -> np.ndarray:
    """(grid_h, grid_w) share of the class token's attention that comes from each patch."""
    modules = attention_modules(model)
    if not modules:
        raise Unprocessable("attention rollout needs a vision transformer; this model has no attention")
    with _weights_of(modules) as seen, torch.no_grad():
        model(x)
    if not seen:
        raise Unprocessable("the model's attention layers did not run on the image")
    tokens = seen[0].shape[-1]
    result = torch.eye(tokens)
    for weights in seen:
        attention = weights[0]
        if discard_ratio > 0:  # drop the weakest links, keeping the class token's own
            flat = attention.flatten()
            cut = torch.topk(flat, int(flat.numel() * discard_ratio), largest=False).indices
            cut = cut[cut != 0]
            flat[cut] = 0
        mixed = 0.5 * attention + 0.5 * torch.eye(tokens)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        result = mixed @ result
    from_patches = result[0, 1:]
    side = round(from_patches.numel() ** 0.5)
    if side * side != from_patches.numel():
        raise Unprocessable(f"{from_patches.numel()} patch tokens do not make a square grid")
    return from_patches.reshape(side, side).numpy()
