"""What an explanation request costs, in forward passes, before any of it runs (no torch).

The ingress refuses a request over ``limits.max_explanation_passes`` so that one request
cannot hold an explainer replica for minutes. A gradient is counted as two passes (forward
and backward). Score-CAM costs one pass per channel of its layer, which only the explainer
knows: it is counted as its two-pass recording here, and the explainer checks it again with
the layer's channels before it runs (ExplainableModel.explain).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from visionserve.explain.options import Options, options_from

GRADIENT = 2
FIRST_STEPS = 32
"""Integrated Gradients' first steps when the request leaves them to completeness."""


def forward_passes(methods: Sequence[str], raw: Mapping[str, Any], input_side: int | None) -> int:
    """Passes the methods take on a square input of ``input_side`` pixels (an upper bound).
    ``input_side`` None: not known before preprocessing (a user's model), occlusion counted
    as one window here and priced by the explainer once the input exists."""
    options = options_from(Options, raw)
    total = 0
    for method in dict.fromkeys(methods):
        if method == "integrated_gradients":  # unset steps: its first 32; it adds only within the budget
            total += GRADIENT * ((options.steps or FIRST_STEPS) + 1)
        elif method == "smoothgrad":
            total += GRADIENT * options.samples
        elif method == "occlusion":
            side = options.patch if input_side is None else input_side
            per_side = max(0, (side - options.patch) // max(options.stride, 1) + 1)
            total += per_side * per_side + 1
        elif method == "rise":
            total += options.masks + 1
        else:  # one gradient, or one recording of a layer
            total += GRADIENT
    return total
