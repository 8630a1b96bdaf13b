"""What an explanation tells an auditor, on real photos: the region the model saw, the exact map
at its input, Integrated Gradients' completeness, RISE without its flat baseline, and the time
of the method apart from its fidelity curves."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
import torch

from tests.helpers import image_bytes
from visionserve.config import ServiceConfig
from visionserve.deployments.explainer import explanation_config
from visionserve.engine import ModelEngine
from visionserve.explain.service import ExplainableModel
from visionserve.explain.targets import ClassLogit
from visionserve.settings import Settings
from visionserve_client.types import ExplainResult
from visionserve_client.visualize import floatmap_to_numpy

TIGER_CAT = 282  # EfficientNet-Lite0's top class on chelsea.png


@pytest.fixture(scope="module")
def classifier(local_config: ServiceConfig, settings: Settings) -> ExplainableModel:
    model = local_config.models[0]
    model = explanation_config(model)  # as the explanation deployment loads it
    return ExplainableModel(ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir))


@pytest.fixture(scope="module")
def detector(local_config: ServiceConfig, settings: Settings) -> ExplainableModel:
    model = next(m for m in local_config.models if m.task == "detection")
    return ExplainableModel(ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir))


def _explain(model: ExplainableModel, photo: str, **params: Any) -> ExplainResult:
    return model.explain(image_bytes(photo), params, max_pixels=10**8, max_passes=params.pop("_budget", 5000))


def test_the_classifier_saw_its_centre_crop_and_the_input_map_is_exact(classifier: ExplainableModel) -> None:
    result = _explain(classifier, "chelsea.png", methods=["gradcam"], input_map=True)  # 451x300
    geometry = result.geometry
    assert geometry.input_size == (224, 224)
    assert geometry.input_box == (0, 0, 224, 224)
    x1, y1, x2, y2 = geometry.image_box
    # Resized to 256 on the short side, then the central 224: a centred square of 300 x 224/256.
    assert (x1 + x2) / 2 == pytest.approx(451 / 2, abs=1)
    assert (y1 + y2) / 2 == pytest.approx(300 / 2, abs=1)
    assert x2 - x1 == y2 - y1 == pytest.approx(300 * 224 / 256, abs=1)
    explanation = result.explanations[0]
    raw = floatmap_to_numpy(explanation.raw)
    outside = np.ones(raw.shape, dtype=bool)
    outside[y1:y2, x1:x2] = False
    assert not raw[outside].any()  # 0 there means not seen: every view must say so
    assert raw[~outside].any()
    assert explanation.input_map is not None
    at_input = floatmap_to_numpy(explanation.input_map)
    assert at_input.shape == (224, 224)
    # The served map is the input map resized into the box: resizing it back loses detail,
    # the input map is the exact one.
    placed = torch.nn.functional.interpolate(torch.from_numpy(at_input)[None, None], size=(y2 - y1, x2 - x1),
                                             mode="bilinear", align_corners=False)[0, 0].numpy()  # fmt: skip
    assert np.abs(placed - raw[y1:y2, x1:x2]).max() <= 2e-3 * np.abs(raw).max()


def test_the_detector_saw_the_whole_image_in_its_letterbox(detector: ExplainableModel) -> None:
    result = _explain(detector, "dog_bike_car.jpg", methods=["occlusion"], stride=64, input_map=True)
    geometry = result.geometry
    width, height = result.image.width, result.image.height
    assert geometry.image_box == (0, 0, width, height)
    side = geometry.input_size[0]
    scale = side / max(width, height)
    assert geometry.input_box == (0, 0, round(width * scale), round(height * scale))
    assert result.explanations[0].input_map is not None
    assert result.explanations[0].input_map.shape == (side, side)


def test_integrated_gradients_refine_until_complete_and_say_so(classifier: ExplainableModel) -> None:
    engine = classifier.engine
    x = torch.from_numpy(engine.prepare(image_bytes("chelsea.png"), max_pixels=10**8).tensor)[None]
    module = engine.runner.module  # type: ignore[attr-defined]
    with torch.no_grad():
        change = float(
            ClassLogit(TIGER_CAT)(module(x))[0] - ClassLogit(TIGER_CAT)(module(torch.zeros_like(x)))[0]
        )

    def run(**options: Any) -> tuple[dict[str, Any], float]:
        found = _explain(
            classifier, "chelsea.png", methods=["integrated_gradients"], target_class=TIGER_CAT, **options
        )
        explanation = found.explanations[0]
        measured = abs(float(floatmap_to_numpy(explanation.input_map).sum()) - change) / abs(change)
        return explanation.params, measured

    fixed, measured = run(steps=32, input_map=True)
    assert fixed["steps_chosen"] == "requested"
    assert fixed["completeness_gap"] == pytest.approx(measured, abs=0.01)
    assert fixed["completeness_gap"] > 0.1  # 32 steps miss by 17.6% on this photo
    chosen, measured = run(input_map=True)
    assert chosen["steps_chosen"] == "converged"
    assert chosen["steps"] > 32
    assert chosen["completeness_gap"] < 0.05
    assert measured < 0.05
    # A budget too small to refine: the steps stop there, and the answer says so.
    tight, _ = run(input_map=True, _budget=2 * 33 + 2 * 20)
    assert (tight["steps"], tight["steps_chosen"]) == (32, "budget")


def test_drise_puts_the_boxs_mass_in_the_box(detector: ExplainableModel) -> None:
    """With the flat baseline removed, a detected box holds several times its area's share of
    the map's positive mass (before, about its area share: the map was 0.95-1.13 everywhere)."""
    result = _explain(detector, "dog_bike_car.jpg", methods=["rise"], target_box_index=0)
    x1, y1, x2, y2 = (round(v) for v in result.target.box or ())
    explanation = result.explanations[0]
    assert explanation.signed
    raw = floatmap_to_numpy(explanation.raw)
    positive = np.clip(raw, 0, None)
    in_box = positive[y1:y2, x1:x2].sum() / positive.sum()
    area = (x2 - x1) * (y2 - y1) / raw.size
    assert in_box / area >= 2.5, (result.target.label, in_box, area)


def test_seconds_leave_the_fidelity_curves_out(classifier: ExplainableModel) -> None:
    started = time.perf_counter()
    result = _explain(classifier, "chelsea.png", methods=["gradcam"], fidelity=True)
    wall = time.perf_counter() - started
    explanation = result.explanations[0]
    assert explanation.fidelity is not None
    assert explanation.fidelity_seconds is not None
    assert explanation.fidelity_seconds > explanation.seconds  # curves: dozens of passes; Grad-CAM: one
    assert explanation.seconds + explanation.fidelity_seconds <= wall
    plain = _explain(classifier, "chelsea.png", methods=["gradcam"]).explanations[0]
    assert plain.fidelity_seconds is None


def test_the_served_overlay_is_what_the_client_draws(classifier: ExplainableModel) -> None:
    """One colour convention: the overlay PNG the service makes and the one
    ``visualize.overlay_heatmap`` (the CLI's) draws are the same, hatching outside the crop."""
    import io

    from PIL import Image

    from visionserve_client.visualize import overlay_heatmap, png_image

    result = _explain(
        classifier, "chelsea.png", methods=["integrated_gradients", "gradcam"], steps=8, overlay=True
    )
    photo = Image.open(io.BytesIO(image_bytes("chelsea.png"))).convert("RGB")
    for explanation in result.explanations:
        assert explanation.overlay_png is not None
        served = np.asarray(png_image(explanation.overlay_png).convert("RGB")).astype(int)
        drawn = np.asarray(overlay_heatmap(photo, explanation, result.geometry)).astype(int)
        assert np.abs(served - drawn).max() <= 3, explanation.method  # the PNG's 8-bit rounding
