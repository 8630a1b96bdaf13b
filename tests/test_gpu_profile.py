"""What the GPU profile (deploy/serve/gpu.yaml) needs, checked on a CPU: its GPU shares fit one
GPU at the most replicas autoscaling may start, and a compiled model has compiled every graph
it serves before its first request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from visionserve.config import ServiceConfig, load_serve_file, parse_service_config
from visionserve.engine import ModelEngine
from visionserve.runtime.torch_runner import TorchRunner
from visionserve.settings import Settings

GPU_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "serve" / "gpu.yaml"


def test_the_gpu_shares_fit_one_gpu_at_the_most_replicas() -> None:
    config = parse_service_config(load_serve_file(GPU_CONFIG).args)
    shares = config.explainer.num_gpus * config.explainer.num_replicas
    for model in config.models:
        deployment = model.deployment
        replicas = deployment.autoscaling.max_replicas if deployment.autoscaling else deployment.num_replicas
        shares += deployment.num_gpus * replicas
    # Ray cannot place a replica past the GPU: autoscaling would wait on it forever.
    assert shares <= 1.0 + 1e-9


def test_a_compiled_model_compiles_its_shared_batch_graph_at_load(
    local_config: ServiceConfig, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.compile specialises a batch of 1: the first batch of 2 or more compiles again
    (tens of seconds), which on a GPU ran past the first request's timeout."""
    model = next(m for m in local_config.models if m.name == "efficientnet-lite0")
    runtime = model.runtime.model_copy(update={"backend": "torch", "compile": True})
    model = model.model_copy(update={"runtime": runtime})
    monkeypatch.setattr(torch, "compile", lambda module, **_: module)  # the calls, not inductor
    sizes: list[int] = []
    run = TorchRunner.run

    def counted(self: TorchRunner, batch: Any) -> Any:
        sizes.append(len(batch) if isinstance(batch, list) else int(np.asarray(batch).shape[0]))
        return run(self, batch)

    monkeypatch.setattr(TorchRunner, "run", counted)
    ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
    assert sizes == [1, 2]
