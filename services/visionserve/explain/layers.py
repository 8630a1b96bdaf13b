"""Find a layer by name and record its activations and gradients for one explanation.

A layer is a module's output (``layer4``) or its input (``_avg_pooling.input``, the features a
global-average-pool head sees). Hooks live only inside ``record``'s ``with`` block.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from visionserve.errors import Unprocessable


@dataclass
class Recording:
    activations: list[torch.Tensor] = field(default_factory=list)


def find_layer(model: torch.nn.Module, name: str) -> tuple[torch.nn.Module, bool]:
    """(module, whether its input rather than its output is meant)."""
    wants_input = name.endswith(".input")
    module_name = name[: -len(".input")] if wants_input else name
    modules = dict(model.named_modules())
    if module_name not in modules:
        near = [n for n in modules if n and (n.startswith(module_name[:4]) or module_name in n)][:8]
        raise Unprocessable(
            f"no layer {name!r} in this model" + (f"; similar names: {', '.join(near)}" if near else "")
        )
    return modules[module_name], wants_input


def default_layer(model: torch.nn.Module) -> str:
    """The input of the last global average pool (what a GAP + linear head sees); for a
    detector, its backbone's last convolution; else the model's last convolution."""
    backbone: list[str] = [
        n
        for n, m in model.named_modules()
        if n.startswith("backbone.body") and isinstance(m, torch.nn.Conv2d)
    ]
    if backbone:
        return backbone[-1]
    pools = [n for n, m in model.named_modules() if isinstance(m, torch.nn.AdaptiveAvgPool2d)]
    if pools:
        return f"{pools[-1]}.input"
    convs: list[str] = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise Unprocessable("this model has no convolution or pooling layer to explain at")
    return convs[-1]


@contextmanager
def record(model: torch.nn.Module, name: str) -> Iterator[Recording]:
    """Keep the layer's tensor of each forward pass (with its graph, for gradients)."""
    module, wants_input = find_layer(model, name)
    recording = Recording()

    def on_input(_module: Any, inputs: tuple[Any, ...]) -> None:
        recording.activations.append(inputs[0])

    def on_output(_module: Any, _inputs: Any, output: Any) -> None:
        recording.activations.append(output)

    handle = (
        module.register_forward_pre_hook(on_input) if wants_input else module.register_forward_hook(on_output)
    )
    try:
        yield recording
    finally:
        handle.remove()
