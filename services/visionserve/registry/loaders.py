"""Build a model's runner from its source, one loader per source kind.

``load_model`` resolves the weights (a verified file, torchvision's named weights, or explicit
random weights) and returns the runner with the weights' digest, which every response
reports as ``model_version``.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visionserve.config import FileSource, ModelConfig, TorchvisionWeights
from visionserve.custom import VisionModel
from visionserve.registry.files import resolve_file, resolve_torchvision, sha256_of
from visionserve.runtime import Runner
from visionserve.runtime.torch_runner import TorchRunner

# Builders of these tasks also build a backbone: never let them fetch its weights on their own.
_HAS_BACKBONE = ("detection", "semantic_segmentation", "instance_segmentation")


@dataclass(frozen=True)
class TextSide:
    """The text tower of an image-text model (CLIP), beside its image runner."""

    runner: Runner
    tokenize: Callable[[list[str]], np.ndarray]
    count_tokens: Callable[[str], int]
    context_length: int
    logit_scale: float
    logit_bias: float | None


@dataclass(frozen=True)
class LoadedModel:
    runner: Runner
    version: str
    """sha256 of the weights file, or of the parameters of random weights."""
    text: TextSide | None = None
    graph: Path | None = None
    """The ONNX graph the runner runs (a file source, or the export of a torch model), from
    which other backends can be built (visionserve.backend_choice)."""


class _ImageTower(torch.nn.Module):
    def __init__(self, clip: torch.nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(images, normalize=True)  # type: ignore[operator,no-any-return]


class _TextTower(torch.nn.Module):
    def __init__(self, clip: torch.nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_text(tokens, normalize=True)  # type: ignore[operator,no-any-return]


def _open_clip(cfg: ModelConfig) -> torch.nn.Module:
    import open_clip

    return open_clip.create_model(str(cfg.source.arch), pretrained=None, **cfg.source.options)  # type: ignore[no-any-return]


def _token_counter(tokenizer: Any) -> Callable[[str], int]:
    if hasattr(tokenizer, "encode"):  # open_clip's BPE tokenizer: ids without start and end
        return lambda text: len(tokenizer.encode(text)) + 2
    inner = tokenizer.tokenizer  # Hugging Face tokenizers (SigLIP) count special tokens themselves
    return lambda text: len(inner(text)["input_ids"])


def _text_side(cfg: ModelConfig, clip: torch.nn.Module) -> TextSide:
    import open_clip

    tokenizer = open_clip.get_tokenizer(str(cfg.source.arch))
    bias = getattr(clip, "logit_bias", None)
    rt = cfg.runtime
    runner = TorchRunner(_TextTower(clip), device=rt.device, precision=rt.precision, threads=rt.threads)
    return TextSide(
        runner=runner,
        tokenize=lambda texts: tokenizer(texts).numpy(),
        count_tokens=_token_counter(tokenizer),
        context_length=int(getattr(tokenizer, "context_length", 77)),
        logit_scale=float(clip.logit_scale.exp().item()),  # type: ignore[operator]
        logit_bias=None if bias is None else float(bias.item()),
    )


def state_digest(module: torch.nn.Module) -> str:
    """sha256 over a module's parameters and buffers, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _load_user_model(
    cfg: ModelConfig, user: VisionModel, *, model_dirs: list[Path], cache_dir: Path
) -> LoadedModel:
    weights = cfg.source.weights
    if weights == "random":
        torch.manual_seed(cfg.source.seed)
        module = user.build()
        return LoadedModel(_torch_runner(cfg, module), state_digest(module))
    assert isinstance(weights, FileSource)  # checked by SourceConfig
    path = resolve_file(weights, model_dirs=model_dirs, cache_dir=cache_dir)
    if cfg.source.format == "onnx":
        return LoadedModel(_onnx_runner(cfg, path, cache_dir), weights.sha256, graph=path)
    return LoadedModel(_torch_runner(cfg, _user_module(cfg, user, path)), weights.sha256)


def _torch_runner(cfg: ModelConfig, module: torch.nn.Module) -> TorchRunner:
    rt = cfg.runtime
    return TorchRunner(
        module,
        device=rt.device,
        precision=rt.precision,
        channels_last=rt.channels_last,
        threads=rt.threads,
        compile=rt.compile,
    )


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    # weights_only: a weights file must never be able to run code when loaded.
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state  # type: ignore[no-any-return]


def _efficientnet_lite(cfg: ModelConfig) -> torch.nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    model: torch.nn.Module = EfficientNet.from_name(str(cfg.source.arch))
    return model


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
    if cfg.source.kind == "open_clip":
        return _open_clip(cfg)
    return _torchvision(cfg, labels, state)


def load_user_class(cfg: ModelConfig) -> VisionModel:
    """An instance of the config's ``module:Class``, checked to be a VisionModel of the task."""
    module_name, _, class_name = str(cfg.source.class_path).partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {cfg.source.class_path}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, VisionModel)):
        raise ValueError(f"{cfg.source.class_path} is not a subclass of visionserve.custom.VisionModel")
    if cls.task != cfg.task:
        raise ValueError(f"{cfg.source.class_path} is a {cls.task} model, the config says {cfg.task}")
    return cls()


def _user_module(cfg: ModelConfig, user: VisionModel, path: Path) -> torch.nn.Module:
    if cfg.source.format == "torchscript":
        return torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call,no-any-return]
    module = user.build()
    module.load_state_dict(_load_state(path), strict=True)
    return module


def load_model(
    cfg: ModelConfig,
    labels: list[str],
    *,
    model_dirs: list[Path],
    cache_dir: Path,
    user: VisionModel | None = None,
) -> LoadedModel:
    if user is not None:
        return _load_user_model(cfg, user, model_dirs=model_dirs, cache_dir=cache_dir)
    rt = cfg.runtime
    weights = cfg.source.weights
    if cfg.source.kind == "onnx":
        assert isinstance(weights, FileSource)  # checked by SourceConfig
        path = resolve_file(weights, model_dirs=model_dirs, cache_dir=cache_dir)
        return LoadedModel(_onnx_runner(cfg, path, cache_dir), weights.sha256, graph=path)

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
    if cfg.source.kind == "open_clip":
        image_runner = TorchRunner(
            _ImageTower(module), device=rt.device, precision=rt.precision, threads=rt.threads
        )
        return LoadedModel(image_runner, version, text=_text_side(cfg, module))
    if rt.backend != "torch":
        runner, graph = _exported_runner(cfg, module, version, cache_dir)
        return LoadedModel(runner, version, graph=graph)
    return LoadedModel(_torch_runner(cfg, module), version)


def _onnx_runner(cfg: ModelConfig, path: Path, cache_dir: Path) -> Runner:
    """onnxruntime at fp32 (fp16 with TensorRT): the served runner, or with backend openvino
    or auto the reference that the others are checked against."""
    from visionserve.runtime.onnx_runner import OnnxRunner

    rt = cfg.runtime
    return OnnxRunner(
        path,
        device=rt.device,
        threads=rt.threads,
        tensorrt=rt.tensorrt,
        fp16=rt.precision == "fp16",
        engine_cache=cache_dir / "tensorrt",
    )


def _exported_runner(
    cfg: ModelConfig, module: torch.nn.Module, version: str, cache_dir: Path
) -> tuple[Runner, Path]:
    from visionserve.registry.export import check_export, export_onnx

    size = int(cfg.preprocess.input_size or 0)
    module = module.eval().float()
    path = export_onnx(module, size, version, cfg.name, cache_dir)
    runner = _onnx_runner(cfg, path, cache_dir)
    try:
        check_export(module, runner.run, size)
    except ValueError:
        path.unlink(missing_ok=True)  # never leave a bad export for the next start to trust
        raise
    return runner, path
