"""Build a runner from a model's source, one loader per source kind."""

from __future__ import annotations

from pathlib import Path

import torch

from visionserve.config import ModelConfig
from visionserve.runtime import Runner


def _efficientnet_lite(cfg: ModelConfig, weights: Path) -> torch.nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    arch = cfg.source.arch or "efficientnet-lite0"
    model = EfficientNet.from_name(arch)
    # weights_only: a weights file must never be able to run code when loaded.
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model


def build_runner(cfg: ModelConfig, weights: Path) -> Runner:
    rt = cfg.runtime
    if cfg.source.kind == "onnx":
        from visionserve.runtime.onnx_runner import OnnxRunner

        return OnnxRunner(weights, device=rt.device, threads=rt.threads)
    from visionserve.runtime.torch_runner import TorchRunner

    module = _efficientnet_lite(cfg, weights)
    return TorchRunner(
        module,
        device=rt.device,
        precision=rt.precision,
        channels_last=rt.channels_last,
        threads=rt.threads,
    )
