"""bf16 autocast in the explainer: each method marked ``bf16_keeps_map`` gives, on real photos,
a map within Pearson 0.99 of its fp32 map, says it ran in bf16, and the others stay fp32."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.helpers import image_bytes
from visionserve.config import ServiceConfig
from visionserve.deployments.explainer import explanation_config
from visionserve.engine import ModelEngine
from visionserve.explain.methods import METHODS
from visionserve.explain.service import ExplainableModel
from visionserve.runtime.openvino_runner import cpu_capabilities
from visionserve.settings import Settings
from visionserve_client.types import MethodExplanation
from visionserve_client.visualize import floatmap_to_numpy

BF16_METHODS = sorted(name for name, method in METHODS.items() if method.bf16_keeps_map)


@pytest.fixture(scope="module")
def models(local_config: ServiceConfig, settings: Settings) -> dict[str, ExplainableModel]:
    model = local_config.models[0]
    model = explanation_config(model)  # as the explanation deployment loads it
    engine = ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
    fp32 = ExplainableModel(engine)
    bf16 = ExplainableModel(engine, bf16=True)
    # The maps are what is tested, on any CPU: where bf16 is emulated it is only slower.
    bf16.bf16 = True
    return {"fp32": fp32, "bf16": bf16}


def _explain(model: ExplainableModel, photo: str, method: str) -> MethodExplanation:
    params: dict[str, Any] = {"methods": [method], "overlay": False}
    if method == "scorecam":  # 320 channels, not the default layer's 1280: the same method, cheaper
        params["layer"] = "_blocks.15"
    return model.explain(image_bytes(photo), params, max_pixels=10**8, max_passes=20_000).explanations[0]


def test_the_marked_methods_are_the_cams_scorecam_and_rise() -> None:
    assert BF16_METHODS == ["cam", "eigencam", "gradcam", "gradcam_plus_plus", "rise", "scorecam"]


@pytest.mark.parametrize("method", BF16_METHODS)
def test_bf16_keeps_the_map_on_real_photos(models: dict[str, ExplainableModel], method: str) -> None:
    photos = ["cat_and_dog.png"] if method in ("scorecam", "rise") else ["cat_and_dog.png", "chelsea.png"]
    for photo in photos:
        exact = _explain(models["fp32"], photo, method)
        fast = _explain(models["bf16"], photo, method)
        assert "precision" not in exact.params
        assert fast.params["precision"] == "bf16"
        a, b = floatmap_to_numpy(exact.raw).ravel(), floatmap_to_numpy(fast.raw).ravel()
        assert np.corrcoef(a, b)[0, 1] >= 0.99, (method, photo)


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "occlusion", "guided_gradcam"])
def test_methods_bf16_would_change_stay_fp32(models: dict[str, ExplainableModel], method: str) -> None:
    explanation = _explain(models["bf16"], "chelsea.png", method)
    assert "precision" not in explanation.params


def test_bf16_runs_only_where_the_cpu_computes_it(models: dict[str, ExplainableModel]) -> None:
    engine = models["fp32"].engine
    native = "BF16" in cpu_capabilities()
    assert ExplainableModel(engine, bf16=True).bf16 is native
    assert ExplainableModel(engine, bf16=False).bf16 is False
