"""Guided backpropagation for the whole ReLU family without touching the model's modules.

A TorchFunctionMode swaps relu, relu6, leaky_relu and hardtanh (what ReLU6 modules call) for
an autograd function whose backward passes only positive gradients through positive inputs.
It intercepts functional calls too, ignores ``inplace=True`` (pytorch#61519: backward hooks on
in-place ReLUs misbehave), and is thread-local and gone when the ``with`` block ends, so the
served model is never changed.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


class _Guided(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, low: float, high: float, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.bounds = (low, high, slope)
        return x.clamp(min=low, max=high) if slope == 0.0 else torch.where(x >= 0, x, x * slope)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        (x,) = ctx.saved_tensors
        low, high, slope = ctx.bounds
        if slope == 0.0:
            local = ((x > low) & (x < high)).to(grad.dtype)
        else:
            local = torch.where(x >= 0, torch.ones_like(x), torch.full_like(x, slope))
        return grad.clamp(min=0) * local, None, None, None


def _bounds(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[float, float, float] | None:
    if func in (F.relu, torch.relu, torch.relu_, F.relu_):
        return 0.0, float("inf"), 0.0
    if func is F.relu6:
        return 0.0, 6.0, 0.0
    if func in (F.hardtanh, F.hardtanh_):
        low = kwargs.get("min_val", args[1] if len(args) > 1 else -1.0)
        high = kwargs.get("max_val", args[2] if len(args) > 2 else 1.0)
        return float(low), float(high), 0.0
    if func in (F.leaky_relu, F.leaky_relu_):
        slope = kwargs.get("negative_slope", args[1] if len(args) > 1 else 0.01)
        return 0.0, float("inf"), float(slope)
    return None


class GuidedReLUs(TorchFunctionMode):
    """Inside ``with GuidedReLUs():`` every ReLU-family activation backpropagates guidedly."""

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        bounds = _bounds(func, args, kwargs)
        if bounds is None:
            return func(*args, **kwargs)
        return _Guided.apply(args[0], *bounds)
