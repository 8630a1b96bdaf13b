"""Explanations of a model served in another precision or on a GPU (deploy/serve/gpu.yaml).

The explanation methods build inputs, masks and maps as CPU float32 tensors; the explainer's
copy of a model runs on the served device and precision. A bf16 module on the CPU takes the
same path as a GPU one (inputs cast in, outputs and layer activations cast back), so these
tests catch on a CPU what would otherwise fail only on a GPU.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from tests.helpers import image_bytes
from visionserve.config import ModelConfig, ServiceConfig
from visionserve.deployments.explainer import explanation_config
from visionserve.engine import ModelEngine
from visionserve.explain.service import ExplainableModel
from visionserve.runtime.torch_runner import TorchRunner
from visionserve.settings import Settings


def _lite(config: ServiceConfig) -> ModelConfig:
    return next(m for m in config.models if m.name == "efficientnet-lite0")


def _engine(model: ModelConfig, settings: Settings, **runtime: object) -> ModelEngine:
    model = model.model_copy(update={"runtime": model.runtime.model_copy(update=runtime)})
    return ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)


def _raw(explanation: object) -> np.ndarray:
    raw = explanation.raw  # type: ignore[attr-defined]
    values = np.frombuffer(base64.b64decode(raw.data), dtype="<f2").astype(np.float32) * raw.scale
    return values.reshape(raw.shape)


def test_the_explainer_copy_is_eager_torch_on_the_served_device(local_config: ServiceConfig) -> None:
    served = _lite(local_config)
    served = served.model_copy(
        update={"runtime": served.runtime.model_copy(update={"backend": "torch", "compile": True})}
    )
    copy = explanation_config(served)
    assert (copy.runtime.backend, copy.runtime.compile) == ("torch", False)
    assert (copy.runtime.device, copy.runtime.precision) == (served.runtime.device, served.runtime.precision)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_bf16_module_is_explained_as_the_fp32_one(local_config: ServiceConfig, settings: Settings) -> None:
    model = explanation_config(_lite(local_config))
    reference = ExplainableModel(_engine(model, settings))
    half = ExplainableModel(_engine(model, settings, precision="bf16", channels_last=True))
    assert isinstance(half.engine.runner, TorchRunner)
    assert next(half.module.parameters()).dtype == torch.bfloat16  # type: ignore[union-attr]
    data = image_bytes("chelsea.png")
    params = {"methods": ["gradcam", "saliency", "eigencam"]}
    ours = half.explain(data, params, max_pixels=10**8)
    theirs = reference.explain(data, params, max_pixels=10**8)
    assert ours.target.index == theirs.target.index
    for a, b in zip(ours.explanations, theirs.explanations, strict=True):
        x, y = _raw(a).ravel(), _raw(b).ravel()
        assert np.isfinite(x).all()
        assert np.corrcoef(x, y)[0, 1] > 0.9, a.method
    # Serving through the same module is unchanged: numpy in, numpy out.
    served = half.engine.infer([half.engine.prepare(data, max_pixels=10**8)], [half.engine.parse_params({})])
    assert served[0].classes[0].index == theirs.target.index  # type: ignore[attr-defined]
