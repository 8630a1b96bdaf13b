"""Runners on their own: every torch option gives the eager fp32 answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionserve.config import RuntimeConfig
from visionserve.runtime.torch_runner import TorchRunner


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, groups=8, padding=1),  # depthwise, as in EfficientNet
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
    )


@pytest.mark.parametrize("options", [{"channels_last": True}, {"compile": True}])
def test_torch_options_match_eager(options: dict[str, bool]) -> None:
    batches = [
        np.random.default_rng(i).standard_normal((n, 3, 16, 16)).astype(np.float32)
        for i, n in [(0, 1), (1, 3)]
    ]
    eager = TorchRunner(_net(), threads=1)
    tuned = TorchRunner(_net(), threads=1, **options)
    for batch in batches:  # two batch sizes: a compiled graph must not be tied to the first
        np.testing.assert_allclose(tuned.run(batch), eager.run(batch), atol=1e-5)


def test_compile_is_refused_for_onnxruntime() -> None:
    with pytest.raises(ValueError, match=r"runtime\.compile applies to backend torch only"):
        RuntimeConfig(backend="onnxruntime", compile=True)
