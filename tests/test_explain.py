"""Explanation methods against Captum and pytorch-grad-cam, and the properties they must keep."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch
import torchvision

from tests.helpers import image_bytes
from visionserve.config import ServiceConfig
from visionserve.deployments.explainer import explanation_config
from visionserve.engine import ModelEngine
from visionserve.explain import views
from visionserve.explain.guided import GuidedReLUs
from visionserve.explain.methods import METHODS, Attribution, Options
from visionserve.explain.targets import ClassLogit
from visionserve.settings import Settings

CLASS = 3


def _norm(values: np.ndarray) -> np.ndarray:
    values = values - values.min()
    return values / (values.max() + 1e-7)


def _signed(values: np.ndarray) -> np.ndarray:
    return values / np.abs(values).max()


@pytest.fixture(scope="module")
def resnet() -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval(), torch.randn(1, 3, 128, 128)


def _torch_lite(config: ServiceConfig, settings: Settings) -> ModelEngine:
    """EfficientNet-Lite0 as the explanation deployment loads it: the torch module, not the export."""
    model = config.models[0]
    model = explanation_config(model)  # as the explanation deployment loads it
    return ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)


@pytest.fixture(scope="module")
def lite(local_config: ServiceConfig, settings: Settings) -> tuple[ModelEngine, torch.Tensor]:
    engine = _torch_lite(local_config, settings)
    return engine, torch.from_numpy(engine.prepare(image_bytes("chelsea.png"), max_pixels=10**8).tensor)[None]


def _ours(
    name: str, model: torch.nn.Module, x: torch.Tensor, layer: str | None = None, **options: object
) -> Attribution:
    return METHODS[name].explain(model, x, ClassLogit(CLASS), layer, Options(**options))  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore::UserWarning")  # Captum's notes on requires_grad and in-place ReLUs
def test_gradient_methods_match_captum(resnet: tuple[torch.nn.Module, torch.Tensor]) -> None:
    from captum.attr import GuidedBackprop, IntegratedGradients, NoiseTunnel, Occlusion, Saliency

    model, x = resnet
    reference = Saliency(model).attribute(x, target=CLASS, abs=True)[0].amax(0).detach().numpy()
    assert np.abs(_norm(_ours("saliency", model, x).raw) - _norm(reference)).max() <= 1e-3

    # Captum's trapezoid weights sum to (n - 1) / n, ours to 1: equal up to scale.
    reference = IntegratedGradients(model).attribute(x, target=CLASS, n_steps=33, method="riemann_trapezoid")
    ours = _ours("integrated_gradients", model, x, steps=32).raw
    assert np.abs(_signed(ours) - _signed(reference[0].sum(0).detach().numpy())).max() <= 1e-3

    stdev = 0.1 * float(x.max() - x.min())
    torch.manual_seed(5)
    tunnel = NoiseTunnel(Saliency(model))
    reference = tunnel.attribute(x, nt_type="smoothgrad", nt_samples=8, stdevs=stdev, target=CLASS, abs=True)
    ours = _ours("smoothgrad", model, x, samples=8, noise_level=0.1, seed=5).raw
    assert np.abs(_norm(ours) - _norm(reference[0].amax(0).detach().numpy())).max() <= 1e-3

    windows = {"sliding_window_shapes": (3, 32, 32), "strides": (3, 16, 16), "baselines": 0}
    reference = Occlusion(model).attribute(x, target=CLASS, **windows)[0, 0].detach().numpy()
    ours = _ours("occlusion", model, x, patch=32, stride=16).raw
    assert np.abs(_signed(ours) - _signed(reference)).max() <= 1e-3

    reference = GuidedBackprop(model).attribute(x, target=CLASS)[0].sum(0).detach().numpy()
    assert np.abs(_signed(_ours("guided_backprop", model, x).raw) - _signed(reference)).max() <= 1e-3


@pytest.mark.filterwarnings("ignore::UserWarning")  # pytorch-grad-cam's own .item() on a graph
@pytest.mark.parametrize("name", ["gradcam", "gradcam_plus_plus", "scorecam", "eigencam"])
def test_cam_methods_match_pytorch_grad_cam(resnet: tuple[torch.nn.Module, torch.Tensor], name: str) -> None:
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, x = resnet
    kind = {
        "gradcam": GradCAM,
        "gradcam_plus_plus": GradCAMPlusPlus,
        "scorecam": ScoreCAM,
        "eigencam": EigenCAM,
    }[name]
    with kind(model=model, target_layers=[model.layer4]) as cam:
        reference = cam(input_tensor=x, targets=[ClassifierOutputTarget(CLASS)])[0]
    attribution = _ours(name, model, x, layer="layer4")
    ours = views.normalised(name, attribution, 128, 128)
    assert np.abs(ours - reference).max() <= 1e-3


def test_guided_backprop_is_guided_on_relu6_and_changes_nothing(
    lite: tuple[ModelEngine, torch.Tensor],
) -> None:
    engine, x = lite
    module = engine.runner.module  # type: ignore[attr-defined]
    with torch.no_grad():
        before = module(x)
    plain = _ours("saliency", module, x)
    guided = METHODS["guided_backprop"].explain(module, x, ClassLogit(CLASS), None, Options())
    with torch.enable_grad():
        inputs = x.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(module(inputs)[0, CLASS], inputs)
    assert np.abs(guided.raw - gradient[0].sum(0).numpy()).max() > 0.1 * np.abs(guided.raw).max()
    assert plain.raw.shape == guided.raw.shape
    with torch.no_grad():
        assert torch.equal(module(x), before)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())
    with GuidedReLUs():
        pass
    assert torch.overrides._get_current_function_mode() is None  # type: ignore[attr-defined]


def test_gradcam_equals_cam_over_area_and_sums_to_the_logit(lite: tuple[ModelEngine, torch.Tensor]) -> None:
    engine, x = lite
    module = engine.runner.module  # type: ignore[attr-defined]
    cam = METHODS["cam"].explain(module, x, ClassLogit(281), None, Options())
    gradcam = METHODS["gradcam"].explain(module, x, ClassLogit(281), None, Options())
    area = gradcam.raw.size
    assert np.allclose(gradcam.raw * area, cam.raw, rtol=1e-3, atol=1e-3 * np.abs(cam.raw).max())
    with torch.no_grad():
        logit = float(module(x)[0, 281])
    bias = float(module._fc.bias[281].detach())
    assert gradcam.raw.sum() == pytest.approx(logit - bias, rel=1e-3)


def test_integrated_gradients_are_complete_on_a_plain_relu_net(
    resnet: tuple[torch.nn.Module, torch.Tensor],
) -> None:
    model, x = resnet
    attribution = _ours("integrated_gradients", model, x, steps=256)
    with torch.no_grad():
        gap = float(model(x)[0, CLASS] - model(torch.zeros_like(x))[0, CLASS])
    assert attribution.raw.sum() == pytest.approx(gap, rel=0.01)


def test_integrated_gradients_are_complete(lite: tuple[ModelEngine, torch.Tensor]) -> None:
    engine, x = lite
    module = engine.runner.module  # type: ignore[attr-defined]
    attribution = METHODS["integrated_gradients"].explain(
        module, x, ClassLogit(281), None, Options(steps=512, batch_size=64)
    )
    with torch.no_grad():
        gap = float(module(x)[0, 281] - module(torch.zeros_like(x))[0, 281])
    # 512 Riemann steps leave about 1% here (0.95-1.3% as the last bit of a few pixels moves).
    assert attribution.raw.sum() == pytest.approx(gap, rel=0.015)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ranks_a = np.argsort(np.argsort(a.ravel())).astype(np.float64)
    ranks_b = np.argsort(np.argsort(b.ravel())).astype(np.float64)
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def test_maps_depend_on_the_weights(lite: tuple[ModelEngine, torch.Tensor]) -> None:
    """Adebayo et al. 2018: a map that survives randomised weights explains nothing."""
    from efficientnet_lite_pytorch import EfficientNet

    engine, x = lite
    module = engine.runner.module  # type: ignore[attr-defined]
    torch.manual_seed(0)
    random = EfficientNet.from_name("efficientnet-lite0").eval()
    for name in ("gradcam", "saliency"):
        trained = METHODS[name].explain(module, x, ClassLogit(281), None, Options()).raw
        scrambled = METHODS[name].explain(random, x, ClassLogit(281), None, Options()).raw
        assert _spearman(trained, scrambled) < 0.5, name


def test_dog_and_cat_maps_peak_on_different_halves(local_config: ServiceConfig, settings: Settings) -> None:
    engine = _torch_lite(local_config, settings)
    from visionserve.explain.service import ExplainableModel

    explainable = ExplainableModel(engine)
    peaks = {}
    for label in ("bull mastiff", "tabby"):
        result = explainable.explain(
            image_bytes("cat_and_dog.png"), {"methods": ["gradcam"], "target_label": label}, max_pixels=10**8
        )
        raw = result.explanations[0].raw
        values = np.frombuffer(base64.b64decode(raw.data), dtype="<f2").reshape(raw.shape)
        peaks[label] = np.unravel_index(np.argmax(values), values.shape)[1] < values.shape[1] / 2
    assert peaks["bull mastiff"] != peaks["tabby"]


def test_explanations_need_no_grad_mode_from_the_caller(lite: tuple[ModelEngine, torch.Tensor]) -> None:
    engine, x = lite
    module = engine.runner.module  # type: ignore[attr-defined]
    with torch.inference_mode():
        inside = METHODS["saliency"].explain(module, x, ClassLogit(CLASS), None, Options()).raw
    outside = METHODS["saliency"].explain(module, x, ClassLogit(CLASS), None, Options()).raw
    assert np.array_equal(inside, outside)
    assert not module.training


def test_scorecam_is_priced_by_its_layers_channels_before_it_runs(
    local_config: ServiceConfig, settings: Settings
) -> None:
    from visionserve.errors import ExplanationTooCostly
    from visionserve.explain.service import ExplainableModel

    explainable = ExplainableModel(_torch_lite(local_config, settings))
    photo = image_bytes("chelsea.png")
    params = {"methods": ["scorecam", "gradcam"]}
    # The default layer of EfficientNet-Lite0 has 1280 channels: 1280 + 2 for the recording,
    # + 2 for Grad-CAM; the ingress counted 4.
    with pytest.raises(ExplanationTooCostly, match=r"1284 forward passes .*1280 on layer"):
        explainable.explain(photo, params, max_pixels=10**8, max_passes=1283)
    result = explainable.explain(photo, params, max_pixels=10**8, max_passes=1284)
    assert [e.method for e in result.explanations] == ["scorecam", "gradcam"]
