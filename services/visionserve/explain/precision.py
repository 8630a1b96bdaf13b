"""bf16 autocast for the methods whose maps it keeps (``Explainer.bf16_keeps_map``).

Measured on EfficientNet-Lite0 and the sample photos (AVX-512 BF16, 2 cores): RISE 2.4-3.1x
and Score-CAM 2.4x faster, the CAMs 1.1-1.4x, at Pearson >= 0.998 of fp32's maps; the
gradient methods lose too much (saliency 0.76, Integrated Gradients 0.85) and occlusion is
at the edge (0.987), so they stay fp32.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from visionserve.config import ModelConfig
from visionserve.runtime.openvino_runner import cpu_capabilities
from visionserve.runtime.torch_runner import TorchRunner

BF16_TASKS = ("classification",)
"""Where bf16's maps were measured against fp32's (classifiers, on the sample photos)."""


def bf16_pays(cfg: ModelConfig, runner: Any) -> bool:
    """Whether bf16 autocast can speed this model's explanations: an fp32 module on a CPU that
    computes bf16 natively (AVX-512 BF16 or AMX, as OpenVINO's CPU plugin reports it; torch's own
    probe says yes for any AVX-512 CPU, where bf16 is emulated, and slower)."""
    return (
        cfg.task in BF16_TASKS
        and cfg.source.kind in ("efficientnet_lite", "torchvision")  # a user's module: not measured
        and isinstance(runner, TorchRunner)
        and runner.device == "cpu"
        and next(runner.module.parameters()).dtype == torch.float32
        and "BF16" in cpu_capabilities()
    )


def bf16_autocast(on: bool) -> AbstractContextManager[Any]:
    return torch.autocast("cpu", dtype=torch.bfloat16) if on else nullcontext()


def in_fp32(output: Any) -> Any:
    """A module's bf16 output as fp32: scores are compared and summed in fp32."""
    return output.float() if isinstance(output, torch.Tensor) and output.dtype == torch.bfloat16 else output
