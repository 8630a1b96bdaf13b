"""What an explanation explains: a differentiable score per batch item from the model's output.

Every target maps the model's output for a batch of N inputs to N scores, so that batched
methods (occlusion, Score-CAM, SmoothGrad, Integrated Gradients) score perturbations together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


class Target(Protocol):
    kind: str

    def __call__(self, output: Any) -> torch.Tensor:
        """(N,) scores for a batch's output."""


@dataclass(frozen=True)
class ClassLogit:
    """A classifier's logit for one class (pre-softmax: its gradient is never saturated)."""

    index: int
    kind: str = "class"

    def __call__(self, output: Any) -> torch.Tensor:
        return output[:, self.index]


@dataclass(frozen=True)
class SegmentationClass:
    """A segmenter's logits of one class, summed over a fixed pixel mask (the class's region)."""

    index: int
    mask: torch.Tensor
    """(h, w) float mask at the model's output resolution, from the unperturbed prediction."""
    kind: str = "segmentation_class"

    def __call__(self, output: Any) -> torch.Tensor:
        logits = output["out"] if isinstance(output, dict) else output
        return (logits[:, self.index] * self.mask).sum(dim=(1, 2))


@dataclass(frozen=True)
class Cosine:
    """Cosine similarity of an image embedding with a fixed, normalised text embedding.

    Never a softmax over a single query: its value is constant and its gradient zero.
    """

    embedding: torch.Tensor
    kind: str = "text"

    def __call__(self, output: Any) -> torch.Tensor:
        image = output / output.norm(dim=1, keepdim=True).clamp(min=1e-12)
        return image @ self.embedding
