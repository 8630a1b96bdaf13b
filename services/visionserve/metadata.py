"""Model metadata for GET /v1/models, built the same way in a replica and at the ingress."""

from __future__ import annotations

from visionserve.config import FileSource, ModelConfig, PipelineConfig
from visionserve_client.types import ModelInfo, RuntimeChoice


def describe(
    cfg: ModelConfig,
    *,
    labels_count: int | None,
    version: str | None = None,
    error: str | None = None,
    runtime: RuntimeChoice | None = None,
) -> ModelInfo:
    """``labels_count`` is None while the model is not loaded (then it is not ready).

    ``version`` is the loaded weights' digest; before loading, the config's sha256 if it has one.
    ``runtime``: how a loaded model's backend and precision were chosen, where they were.
    """
    if version is None:
        weights = cfg.source.weights
        version = weights.sha256 if isinstance(weights, FileSource) else ""
    size = cfg.preprocess.input_size
    return ModelInfo(
        name=cfg.name,
        task=cfg.task,
        ready=labels_count is not None and error is None,
        error=error,
        labels_count=labels_count or 0,
        input_size=(size, size) if size else None,
        weights_sha256=version or "",
        model_version=version or "",
        backend=runtime.backend if runtime else cfg.runtime.backend,
        device=cfg.runtime.device,
        precision=runtime.precision if runtime else cfg.runtime.precision,
        runtime=runtime,
        max_batch_size=cfg.batching.max_batch_size,
    )


def describe_unreachable(cfg: ModelConfig | PipelineConfig, error: str) -> ModelInfo:
    """Metadata for a model or pipeline whose replica did not answer."""
    if isinstance(cfg, ModelConfig):
        return describe(cfg, labels_count=None, error=error)
    return ModelInfo(
        name=cfg.name,
        task=cfg.task,
        ready=False,
        error=error,
        labels_count=len(cfg.detect_classes),
        input_size=None,
        weights_sha256="",
        model_version="",
        backend="pipeline",
        device="",
        max_batch_size=0,
    )
