"""The one interface every runner implements."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Runner(Protocol):
    """Runs one batch: float32 (N, 3, H, W), or a list of (3, H, W) for any-size models.

    Returns the model's output as numpy arrays: one array, or every output of a graph with
    several (ONNX: a dict by output name, in the graph's order; torch: the tuple, dict or list
    the module returns, as such; torchvision detectors: one dict per image).
    """

    backend: str
    device: str

    def run(self, batch: np.ndarray | list[np.ndarray]) -> Any: ...
