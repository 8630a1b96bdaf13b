"""Eager torch runner: fp32/fp16/bf16, optional channels_last."""

from __future__ import annotations

import numpy as np
import torch

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


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
    ) -> None:
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("runtime.device is cuda but no CUDA device is visible")
        if device == "cpu":
            torch.set_num_threads(threads)
        self.device = device
        self._dtype = _DTYPES[precision]
        self._memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._module = module.eval().to(device=device, dtype=self._dtype, memory_format=self._memory_format)

    @torch.inference_mode()
    def run(self, batch: np.ndarray) -> np.ndarray:
        inputs = torch.from_numpy(batch).to(self.device, self._dtype)
        inputs = inputs.contiguous(memory_format=self._memory_format)
        output = self._module(inputs)
        return output.float().cpu().numpy()
