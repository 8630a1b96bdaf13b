"""The one interface every runner implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Runner(Protocol):
    """Runs one batch through a model: float32 NCHW in, the model's first output out."""

    backend: str
    device: str

    def run(self, batch: np.ndarray) -> np.ndarray: ...
