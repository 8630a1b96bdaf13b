"""Deletion and insertion AUC (Petsiuk et al. 2018): how fast the score falls when the map's
most important pixels are removed first, and rises when they are restored first.

The curve's x axis is the share of pixels changed in ``steps`` even steps; "removed" means set
to the baseline (zeros in the model's normalised input, i.e. the mean colour). Scores are the
target's, passed through ``squash`` (softmax probability for classifiers). Lower deletion AUC
and higher insertion AUC mean a more faithful map. Perturbed inputs run in batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from visionserve.explain.targets import Target


def deletion_insertion(
    model: Callable[[torch.Tensor], Any],
    x: torch.Tensor,
    saliency: np.ndarray,
    target: Target,
    *,
    steps: int = 32,
    batch_size: int = 8,
    squash: Callable[[Any, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    _, _, height, width = x.shape
    order = torch.from_numpy(np.argsort(-saliency.reshape(-1), kind="stable").copy())
    baseline = torch.zeros_like(x)
    counts = [round(i * height * width / steps) for i in range(steps + 1)]
    curves: dict[str, list[float]] = {"deletion": [], "insertion": []}
    with torch.no_grad():
        for name, start, end in (("deletion", x, baseline), ("insertion", baseline, x)):
            inputs = []
            for count in counts:
                mask = torch.zeros(height * width)
                mask[order[:count]] = 1.0
                mask = mask.view(1, 1, height, width)
                inputs.append(start * (1 - mask) + end * mask)
            for i in range(0, len(inputs), batch_size):
                batch = torch.cat(inputs[i : i + batch_size])
                output = model(batch)
                scores = squash(output, target(output)) if squash else target(output)
                curves[name].extend(float(s) for s in scores)
    return {f"{name}_auc": float(np.trapezoid(curve, dx=1.0 / steps)) for name, curve in curves.items()}
