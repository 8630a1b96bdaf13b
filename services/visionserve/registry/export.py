"""Torch models served by onnxruntime: exported once, cached by weights digest, checked.

On a CPU onnxruntime ran EfficientNet-Lite0 about 4x faster than eager torch here, so a torch
model may name ``runtime.backend: onnxruntime``. The export has a dynamic batch axis, is
written atomically to ``<cache>/onnx/`` under the weights' digest (new weights, new file),
and is refused unless its outputs match torch's within ``tolerance`` on a seeded input.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

TOLERANCE = 1e-4


class _FirstTensor(torch.nn.Module):
    """torchvision segmenters return {"out": ..., "aux": ...}: export the "out" tensor."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor | dict[str, torch.Tensor] = self.module(x)
        return output["out"] if isinstance(output, dict) else output


def export_onnx(module: torch.nn.Module, input_size: int, version: str, name: str, cache_dir: Path) -> Path:
    """The cached ONNX export of ``module`` (eval, fp32, on the CPU); exported on first use."""
    target = cache_dir / "onnx" / f"{name}-{version[:16]}-{input_size}.onnx"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    wrapped = _FirstTensor(module).eval()
    example = torch.zeros(1, 3, input_size, input_size)
    handle, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    tmp = Path(tmp_name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
            torch.onnx.export(
                wrapped,
                (example,),
                str(tmp),
                dynamo=False,
                input_names=["images"],
                output_names=["output"],
                dynamic_axes={"images": {0: "batch"}, "output": {0: "batch"}},
                opset_version=17,
            )
        tmp.replace(target)
    finally:
        os.close(handle)
        tmp.unlink(missing_ok=True)
    return target


def check_export(
    module: torch.nn.Module, session_run: Any, input_size: int, tolerance: float = TOLERANCE
) -> float:
    """Largest difference between torch and the export on a seeded batch of two; raises past ``tolerance``."""
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn((2, 3, input_size, input_size), generator=generator)
    with torch.inference_mode():
        expected = _FirstTensor(module).eval()(batch).float().numpy()
    got = np.asarray(session_run(batch.numpy()))
    difference = float(np.abs(expected - got).max())
    if difference > tolerance:
        raise ValueError(f"the ONNX export differs from torch by {difference:.2e}, over {tolerance:g}")
    return difference
