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
    if isinstance(value, tuple):  # a module's several outputs
        return tuple(to_numpy(item) for item in value)
    if isinstance(value, list):  # one item an image (torchvision detectors)
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
        # Module.to takes memory_format with device and dtype; torch's overloads leave that out.
        self.module: torch.nn.Module = module.eval().to(  # type: ignore[call-overload]
            device=device, dtype=self._dtype, memory_format=self._memory_format
        )
        # Inference goes through the compiled graph; self.module stays eager for gradients
        # (explanations). dynamic=True: one graph for every batch size, not one per size.
        self._forward = torch.compile(self.module, dynamic=True) if compile else self.module

    def device_input(self, array: np.ndarray) -> torch.Tensor:
        """An array as the model takes it: on the runner's device, dtype and memory format."""
        return self.to_model(torch.from_numpy(array))

    def to_model(self, tensor: torch.Tensor) -> torch.Tensor:
        if not tensor.is_floating_point():  # token ids stay integers
            return tensor.to(self.device)
        tensor = tensor.to(self.device, self._dtype)
        return tensor.contiguous(memory_format=self._memory_format) if tensor.ndim == 4 else tensor

    @torch.inference_mode()
    def run(self, batch: np.ndarray | list[np.ndarray]) -> Any:
        inputs = (
            [self.device_input(a) for a in batch] if isinstance(batch, list) else self.device_input(batch)
        )
        return to_numpy(self._forward(inputs))

    @torch.inference_mode()
    def forward_on_device(self, inputs: torch.Tensor) -> Any:
        """The (compiled) forward alone, on a batch already on the device: no host copies."""
        return self._forward(inputs)

    def host_boundary(self) -> None:
        """Let the eager module take and return CPU float32 tensors, as explanations use them.

        Explanation methods build their inputs, masks and maps on the CPU in float32; a module
        served on a GPU or in fp16/bf16 would refuse them. Hooks on the module itself move its
        input to the device and dtype and its outputs back, so that gradients flow through
        both copies and layer names stay the module's own. No-op for a CPU float32 module.
        """
        if self.device == "cpu" and self._dtype == torch.float32:
            return
        self.module.register_forward_pre_hook(self._to_device_hook)
        self.module.register_forward_hook(self._to_host_hook)

    def _to_device_hook(self, module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        def moved(value: Any) -> Any:
            if isinstance(value, torch.Tensor):
                return self.to_model(value)
            return [moved(item) for item in value] if isinstance(value, list) else value

        return tuple(moved(a) for a in args)

    @staticmethod
    def _to_host_hook(module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        return to_host(output)


def to_host(value: Any) -> Any:
    """Tensors (in dicts, lists, tuples) as CPU float32, keeping the autograd graph."""
    if isinstance(value, torch.Tensor):
        value = value.cpu()
        return value.float() if value.is_floating_point() else value
    if isinstance(value, dict):
        return {key: to_host(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_host(item) for item in value)
    return value
