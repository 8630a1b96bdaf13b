"""Torch runner: fp32/fp16/bf16, optional channels_last, optionally torch.compile'd.

Takes a stacked batch (N, 3, H, W) or a list of (3, H, W) images for models that accept
images of different sizes (torchvision detectors), and returns the model's output with every
tensor turned into a numpy array (dicts and lists kept).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def to_numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.float() if value.is_floating_point() else value).numpy()
    if isinstance(value, dict):
        return {key: to_numpy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_numpy(item) for item in value]
    return value


class TorchRunner:
    backend = "torch"

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        device: str = "cpu",
        precision: str = "fp32",
        channels_last: bool = False,
        threads: int = 2,
        compile: bool = False,
    ) -> None:
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("runtime.device is cuda but no CUDA device is visible")
        if device == "cpu":
            torch.set_num_threads(threads)
        self.device = device
        self._dtype = _DTYPES[precision]
        self._memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.module = module.eval().to(device=device, dtype=self._dtype, memory_format=self._memory_format)
        # Inference goes through the compiled graph; self.module stays eager for gradients
        # (explanations). dynamic=True: one graph for every batch size, not one per size.
        self._forward = torch.compile(self.module, dynamic=True) if compile else self.module

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if not tensor.is_floating_point():  # token ids stay integers
            return tensor.to(self.device)
        tensor = tensor.to(self.device, self._dtype)
        return tensor.contiguous(memory_format=self._memory_format) if tensor.ndim == 4 else tensor

    @torch.inference_mode()
    def run(self, batch: np.ndarray | list[np.ndarray]) -> Any:
        inputs = [self._tensor(a) for a in batch] if isinstance(batch, list) else self._tensor(batch)
        return to_numpy(self._forward(inputs))
