"""Build a model's runner from its source, one loader per source kind.

``load_model`` resolves the weights (a verified file, torchvision's named weights, or explicit
random weights) and returns the runner with the weights' digest, which every response
reports as ``model_version``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from visionserve.config import FileSource, ModelConfig, TorchvisionWeights
from visionserve.registry.files import resolve_file, resolve_torchvision, sha256_of
from visionserve.runtime import Runner

# Builders of these tasks also build a backbone: never let them fetch its weights on their own.
_HAS_BACKBONE = ("detection", "semantic_segmentation", "instance_segmentation")


@dataclass(frozen=True)
class LoadedModel:
    runner: Runner
    version: str
    """sha256 of the weights file, or of the parameters of random weights."""


def state_digest(module: torch.nn.Module) -> str:
    """sha256 over a module's parameters and buffers, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    # weights_only: a weights file must never be able to run code when loaded.
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state  # type: ignore[no-any-return]


def _efficientnet_lite(cfg: ModelConfig) -> torch.nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_name(str(cfg.source.arch))


def _torchvision(
    cfg: ModelConfig, labels: list[str], state: dict[str, torch.Tensor] | None
) -> torch.nn.Module:
    from torchvision.models import get_model_builder

    try:
        builder = get_model_builder(str(cfg.source.arch))
    except ValueError as exc:
        raise ValueError(f"unknown torchvision architecture {cfg.source.arch!r}: {exc}") from None
    options: dict[str, object] = {"num_classes": len(labels), **cfg.source.options}
    if cfg.task in _HAS_BACKBONE:
        options.setdefault("weights_backbone", None)
    if state is not None and any(key.startswith("aux_classifier.") for key in state):
        options.setdefault("aux_loss", True)
    return builder(weights=None, **options)  # type: ignore[no-any-return]


def _module(cfg: ModelConfig, labels: list[str], state: dict[str, torch.Tensor] | None) -> torch.nn.Module:
    if cfg.source.kind == "efficientnet_lite":
        return _efficientnet_lite(cfg)
    return _torchvision(cfg, labels, state)


def load_model(
    cfg: ModelConfig, labels: list[str], *, model_dirs: list[Path], cache_dir: Path
) -> LoadedModel:
    rt = cfg.runtime
    weights = cfg.source.weights
    if cfg.source.kind == "onnx":
        from visionserve.runtime.onnx_runner import OnnxRunner

        assert isinstance(weights, FileSource)  # checked by SourceConfig
        path = resolve_file(weights, model_dirs=model_dirs, cache_dir=cache_dir)
        return LoadedModel(OnnxRunner(path, device=rt.device, threads=rt.threads), weights.sha256)

    from visionserve.runtime.torch_runner import TorchRunner

    if weights == "random":
        torch.manual_seed(cfg.source.seed)
        module = _module(cfg, labels, None)
        version = state_digest(module)
    else:
        if isinstance(weights, TorchvisionWeights):
            path = resolve_torchvision(weights, model_dirs=model_dirs, cache_dir=cache_dir)
            version = weights.sha256 or sha256_of(path)
        else:
            path = resolve_file(weights, model_dirs=model_dirs, cache_dir=cache_dir)
            version = weights.sha256
        state = _load_state(path)
        module = _module(cfg, labels, state)
        module.load_state_dict(state, strict=True)
    runner = TorchRunner(
        module, device=rt.device, precision=rt.precision, channels_last=rt.channels_last, threads=rt.threads
    )
    return LoadedModel(runner, version)
