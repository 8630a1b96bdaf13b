"""The base of every explanation method: ``Explainer.explain`` gives an ``Attribution``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from visionserve.explain.options import Options
from visionserve.explain.targets import Target

Forward = Callable[[torch.Tensor], Any]
"""The model's forward on a float batch; for gradient-free methods it may wrap any runner."""


@dataclass
class Attribution:
    raw: np.ndarray
    """(h, w) signed map: at the model input's resolution, or the layer's for CAM methods."""
    score: float
    """The target's score on the unperturbed input."""
    layer: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    at_layer: bool = False
    """True when ``raw`` is at the layer's resolution (upsample it to the input)."""
    clip_negative: bool = False
    """CAM convention: negative evidence is cut before the normalised view."""


class Explainer(ABC):
    name: ClassVar[str]
    needs_gradients: ClassVar[bool] = True
    bf16_keeps_map: ClassVar[bool] = False
    """Measured: its maps in bf16 autocast stay within Pearson 0.99 of fp32 on real photos
    (tests/test_explain_bf16.py), so it may run in bf16 where the CPU computes bf16 natively.
    Gradient methods do not (a pixel's gradient in bf16 loses most of its digits)."""

    @abstractmethod
    def explain(
        self, model: torch.nn.Module, x: torch.Tensor, target: Target, layer: str | None, options: Options
    ) -> Attribution:
        """``x`` is one preprocessed input, (1, C, H, W)."""

    def check(self, height: int, width: int, options: Options) -> None:
        """Refuse options that cannot work on an input of this size (Unprocessable), before
        any method of the request runs."""
        return None  # most methods take any input size
