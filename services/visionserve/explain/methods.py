"""Explanation methods: each a small class on one base with a few named hooks.

``Explainer.explain`` returns an ``Attribution``: the raw signed map (at the model input's
resolution, or at the layer's for CAM methods, which say so) and what was used. Gradient
methods enable gradients themselves (the caller may hold ``inference_mode`` elsewhere), never
change the model's modules, and leave no hook behind.

    Explainer
    ├── Saliency, SmoothGrad, IntegratedGradients, GuidedBackprop (input gradients)
    ├── CamExplainer (a map at a layer): EigenCAM
    │   └── WeightedCAM (activations x channel weights): CAM, GradCAM, GradCAMPlusPlus, ScoreCAM
    │       └── GuidedGradCAM (Grad-CAM x guided backprop)
    ├── Occlusion (forward passes only: any runner, ONNX included)
    └── Rise (random masks, forward passes only: RISE, and D-RISE on detectors)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from visionserve.errors import Unprocessable
from visionserve.explain.guided import GuidedReLUs
from visionserve.explain.layers import default_layer, record
from visionserve.explain.options import Options
from visionserve.explain.targets import Target

Forward = Callable[[torch.Tensor], Any]
"""The model's forward on a float batch; for gradient-free methods it may wrap any runner."""


@dataclass
class Attribution:
    raw: np.ndarray
    """(h, w) signed map: at the model input's resolution, or the layer's for CAM methods."""
    score: float
    """The target's score on the unperturbed input."""
    layer: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    at_layer: bool = False
    """True when ``raw`` is at the layer's resolution (upsample it to the input)."""
    clip_negative: bool = False
    """CAM convention: negative evidence is cut before the normalised view."""


class Explainer(ABC):
    name: ClassVar[str]
    needs_gradients: ClassVar[bool] = True

    @abstractmethod
    def explain(
        self, model: torch.nn.Module, x: torch.Tensor, target: Target, layer: str | None, options: Options
    ) -> Attribution:
        """``x`` is one preprocessed input, (1, C, H, W)."""

    def check(self, height: int, width: int, options: Options) -> None:
        """Refuse options that cannot work on an input of this size (Unprocessable), before
        any method of the request runs."""
        return None  # most methods take any input size


def _input_gradient(model: Forward, x: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
    """(d score / d x, scores) for a batch, with gradients on whatever the caller disabled."""
    with torch.inference_mode(False), torch.enable_grad():
        inputs = x.detach().clone().requires_grad_(True)
        scores = target(model(inputs))
        (grad,) = torch.autograd.grad(scores.sum(), inputs)
    return grad.detach(), scores.detach()


class Saliency(Explainer):
    """Simonyan et al. 2014: |d score / d pixel|, max over channels."""

    name = "saliency"

    def explain(
        self, model: Any, x: torch.Tensor, target: Target, layer: Any, options: Options
    ) -> Attribution:
        grad, score = _input_gradient(model, x, target)
        return Attribution(grad[0].abs().amax(dim=0).numpy(), float(score[0]))


class SmoothGrad(Explainer):
    """Smilkov et al. 2017: saliency averaged over noisy copies (sigma = level x input range)."""

    name = "smoothgrad"

    def explain(
        self, model: Any, x: torch.Tensor, target: Target, layer: Any, options: Options
    ) -> Attribution:
        stdev = options.noise_level * float(x.max() - x.min())
        generator = torch.Generator().manual_seed(options.seed)
        # Drawn as Captum's NoiseTunnel draws it, so that the same seed gives the same noise.
        noise = torch.normal(0.0, torch.full((options.samples, *x.shape[1:]), stdev), generator=generator)
        total = torch.zeros_like(x[0])
        for start in range(0, options.samples, options.batch_size):
            chunk = x + noise[start : start + options.batch_size]
            grad, _ = _input_gradient(model, chunk, target)
            total += grad.abs().sum(dim=0)
            options.progress.step(min(start + options.batch_size, options.samples), options.samples)
        _, score = _input_gradient(model, x, target)
        params = {"samples": options.samples, "noise_level": options.noise_level, "seed": options.seed}
        return Attribution((total / options.samples).amax(dim=0).numpy(), float(score[0]), params=params)


def _baseline(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "zeros":
        return torch.zeros_like(x)
    if kind == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    if kind == "blur":
        return F.avg_pool2d(x, 31, stride=1, padding=15, count_include_pad=False)
    raise Unprocessable(f"unknown baseline {kind!r}: use zeros, mean or blur")


class IntegratedGradients(Explainer):
    """Sundararajan et al. 2017, trapezoidal rule: (x - x') * mean gradient along the path."""

    name = "integrated_gradients"

    def explain(
        self, model: Any, x: torch.Tensor, target: Target, layer: Any, options: Options
    ) -> Attribution:
        baseline = _baseline(x, options.baseline)
        steps = options.steps
        alphas = torch.linspace(0.0, 1.0, steps + 1)
        weights = torch.ones(steps + 1)
        weights[0] = weights[-1] = 0.5
        total = torch.zeros_like(x[0])
        for start in range(0, steps + 1, options.batch_size):
            a = alphas[start : start + options.batch_size].view(-1, 1, 1, 1)
            grad, _ = _input_gradient(model, baseline + a * (x - baseline), target)
            total += (grad * weights[start : start + options.batch_size].view(-1, 1, 1, 1)).sum(dim=0)
            options.progress.step(min(start + options.batch_size, steps + 1), steps + 1)
        attribution = (x - baseline)[0] * total / steps
        _, score = _input_gradient(model, x, target)
        params = {"steps": steps, "baseline": options.baseline}
        return Attribution(attribution.sum(dim=0).numpy(), float(score[0]), params=params)


def guided_gradient(model: Any, x: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
    with GuidedReLUs():
        return _input_gradient(model, x, target)


class GuidedBackprop(Explainer):
    """Springenberg et al. 2015: only positive gradients through positive activations."""

    name = "guided_backprop"

    def explain(
        self, model: Any, x: torch.Tensor, target: Target, layer: Any, options: Options
    ) -> Attribution:
        grad, score = guided_gradient(model, x, target)
        return Attribution(grad[0].sum(dim=0).numpy(), float(score[0]))


Recorded = tuple[torch.Tensor, torch.Tensor, float]


class CamExplainer(Explainer):
    """A map at a layer's resolution from its activations (and the score's gradient there).

    Hooks: ``layer_map`` makes the map; ``check_layer`` refuses layers a method cannot use;
    ``params`` names what the response should cite."""

    def activations_and_gradients(self, model: Any, x: torch.Tensor, target: Target, layer: str) -> Recorded:
        with torch.inference_mode(False), torch.enable_grad(), record(model, layer) as recording:
            inputs = x.detach().clone().requires_grad_(True)
            score = target(model(inputs))
            if not recording.activations:
                raise Unprocessable(f"layer {layer!r} does not take part in this model's forward pass")
            activation = recording.activations[-1]
            if activation.ndim != 4:
                raise Unprocessable(
                    f"layer {layer!r} gives {tuple(activation.shape)}, not a (N, C, H, W) map"
                )
            (grad,) = torch.autograd.grad(score.sum(), activation)
        # On the CPU in float32 whatever the module runs on: the maps are made there.
        return activation.detach().float().cpu(), grad.detach().float().cpu(), float(score[0].detach())

    @abstractmethod
    def layer_map(
        self,
        model: Any,
        x: torch.Tensor,
        target: Target,
        activation: torch.Tensor,
        grad: torch.Tensor,
        options: Options,
    ) -> np.ndarray:
        """(h, w) signed map at the layer's resolution."""

    def check_layer(self, requested: str | None) -> None:
        """Refuse a requested layer this method cannot use (None: the model's default)."""

    def params(self, options: Options) -> dict[str, Any]:
        return {}

    def explain(
        self,
        model: Any,
        x: torch.Tensor,
        target: Target,
        layer: str | None,
        options: Options,
        recorded: Recorded | None = None,
    ) -> Attribution:
        """``recorded``: the layer's activations, gradients and score from a pass already made
        for another CAM method of the same request (they share one forward and backward)."""
        self.check_layer(layer)
        layer = layer or default_layer(model)
        activation, grad, score = recorded or self.activations_and_gradients(model, x, target, layer)
        raw = self.layer_map(model, x, target, activation, grad, options)
        return Attribution(
            raw, score, layer=layer, params=self.params(options), at_layer=True, clip_negative=True
        )


class WeightedCAM(CamExplainer):
    """The layer's channels summed with per-channel weights; subclasses say how (``channel_weights``)."""

    @abstractmethod
    def channel_weights(
        self,
        model: Any,
        x: torch.Tensor,
        target: Target,
        activation: torch.Tensor,
        grad: torch.Tensor,
        options: Options,
    ) -> torch.Tensor:
        """(C,) weights of the layer's channels."""

    def layer_map(
        self,
        model: Any,
        x: torch.Tensor,
        target: Target,
        activation: torch.Tensor,
        grad: torch.Tensor,
        options: Options,
    ) -> np.ndarray:
        weights = self.channel_weights(model, x, target, activation, grad, options)
        return (weights[:, None, None] * activation[0]).sum(dim=0).numpy()


class GradCAM(WeightedCAM):
    """Selvaraju et al. 2017: channel weights are the spatial mean of the score's gradient."""

    name = "gradcam"

    def channel_weights(
        self, model: Any, x: Any, target: Any, activation: torch.Tensor, grad: torch.Tensor, options: Any
    ) -> torch.Tensor:
        return grad[0].mean(dim=(1, 2))


class GradCAMPlusPlus(WeightedCAM):
    """Chattopadhay et al. 2018, eq. 19: higher-order weights of positive gradients."""

    name = "gradcam_plus_plus"

    def channel_weights(
        self, model: Any, x: Any, target: Any, activation: torch.Tensor, grad: torch.Tensor, options: Any
    ) -> torch.Tensor:
        g, a = grad[0].double(), activation[0].double()
        g2, g3 = g**2, g**3
        sum_a = a.sum(dim=(1, 2), keepdim=True)
        alpha = g2 / (2 * g2 + sum_a * g3 + 1e-6)
        alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
        return (g.clamp(min=0) * alpha).sum(dim=(1, 2)).float()


class CAM(WeightedCAM):
    """Zhou et al. 2016: the linear head's weights of the class, for GAP + linear heads only."""

    name = "cam"

    def check_layer(self, requested: str | None) -> None:
        if requested is not None and not requested.endswith(".input"):
            raise Unprocessable("CAM works on the global pool's input; leave layer out")

    def channel_weights(
        self, model: Any, x: Any, target: Any, activation: torch.Tensor, grad: torch.Tensor, options: Any
    ) -> torch.Tensor:
        index = getattr(target, "index", None)
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        if index is None or not linears:
            raise Unprocessable("CAM needs a classifier with a global-average-pool + linear head")
        head = linears[-1]
        pooled = activation.mean(dim=(2, 3))
        with torch.no_grad():
            logits = model(x)
            expected = F.linear(pooled, head.weight, head.bias)
        if head.in_features != activation.shape[1] or not torch.allclose(
            expected, logits, rtol=1e-3, atol=1e-3
        ):
            raise Unprocessable("CAM needs a global-average-pool + linear head: use gradcam for this model")
        return head.weight[index].detach()


class ScoreCAM(WeightedCAM):
    """Wang et al. 2020: each channel, upsampled and normalised, masks the input; the scores
    of the masked inputs, softmaxed over channels, weight the channels. Forward passes only,
    run in batches."""

    name = "scorecam"

    def params(self, options: Options) -> dict[str, Any]:
        return {"batch_size": options.batch_size}

    def channel_weights(
        self,
        model: Any,
        x: torch.Tensor,
        target: Target,
        activation: torch.Tensor,
        grad: Any,
        options: Options,
    ) -> torch.Tensor:
        with torch.no_grad():
            upsampled = F.interpolate(activation, size=x.shape[-2:], mode="bilinear", align_corners=True)[0]
            flat = upsampled.flatten(1)
            low, high = flat.min(dim=1)[0], flat.max(dim=1)[0]
            masks = (upsampled - low[:, None, None]) / (high - low + 1e-8)[:, None, None]
            scores = []
            for start in range(0, len(masks), options.batch_size):
                batch = x * masks[start : start + options.batch_size, None]
                scores.append(target(model(batch)))
                options.progress.step(min(start + options.batch_size, len(masks)), len(masks))
            return torch.softmax(torch.cat(scores), dim=0)


class EigenCAM(CamExplainer):
    """Muhammad & Yeasin 2020: the activations' first principal component (class-agnostic)."""

    name = "eigencam"

    def layer_map(
        self, model: Any, x: Any, target: Any, activation: torch.Tensor, grad: Any, options: Any
    ) -> np.ndarray:
        a = activation[0].numpy()
        flat = a.reshape(a.shape[0], -1).transpose()
        flat = flat - flat.mean(axis=0)
        _, _, vt = np.linalg.svd(flat, full_matrices=True)
        return (flat @ vt[0, :]).reshape(a.shape[1:]).astype(np.float32)


class GuidedGradCAM(GradCAM):
    """Selvaraju et al. 2017: guided backprop times the (clipped, normalised, upsampled) Grad-CAM."""

    name = "guided_gradcam"

    def explain(
        self,
        model: Any,
        x: torch.Tensor,
        target: Target,
        layer: str | None,
        options: Options,
        recorded: Recorded | None = None,
    ) -> Attribution:
        cam = super().explain(model, x, target, layer, options, recorded)
        weights = torch.from_numpy(np.maximum(cam.raw, 0))[None, None]
        weights = F.interpolate(weights, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
        weights = weights / (weights.max() + 1e-7)
        grad, _ = guided_gradient(model, x, target)
        return Attribution((grad[0] * weights).sum(dim=0).numpy(), cam.score, layer=cam.layer)


class Occlusion(Explainer):
    """Zeiler & Fergus 2014: the score's drop when a patch is covered, averaged over the patches
    covering each pixel. Perturbed inputs run in batches; forward passes only."""

    name = "occlusion"
    needs_gradients = False

    def check(self, height: int, width: int, options: Options) -> None:
        if options.patch > min(height, width):
            raise Unprocessable(
                f"occlusion patch {options.patch} is larger than the model input {width}x{height}"
            )
        if options.stride < 1:
            raise Unprocessable("occlusion stride must be at least 1")

    def explain(
        self, model: Any, x: torch.Tensor, target: Target, layer: Any, options: Options
    ) -> Attribution:
        _, _, height, width = x.shape
        self.check(height, width, options)
        patch, stride = options.patch, options.stride
        tops = range(0, height - patch + 1, stride)
        lefts = range(0, width - patch + 1, stride)
        windows = [(t, left) for t in tops for left in lefts]
        with torch.no_grad():
            base = target(model(x))
            total = torch.zeros((height, width))
            count = torch.zeros((height, width))
            for start in range(0, len(windows), options.batch_size):
                chunk = windows[start : start + options.batch_size]
                batch = x.repeat(len(chunk), 1, 1, 1)
                for i, (t, left) in enumerate(chunk):
                    batch[i, :, t : t + patch, left : left + patch] = options.fill
                drops = base - target(model(batch))
                for i, (t, left) in enumerate(chunk):
                    total[t : t + patch, left : left + patch] += drops[i]
                    count[t : t + patch, left : left + patch] += 1
                options.progress.step(start + len(chunk), len(windows))
        raw = torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))
        params = {"patch": patch, "stride": stride, "fill": options.fill, "windows": len(windows)}
        return Attribution(raw.numpy(), float(base[0]), params=params)


class Rise(Explainer):
    """Petsiuk et al. 2018 (RISE), and on detectors 2021 (D-RISE): random smooth masks keep a
    share of the image; each mask is weighted by the target's score on the masked image (for a
    box: its best match's IoU + score). Forward passes only, in batches, seeded."""

    name = "rise"
    needs_gradients = False

    def explain(
        self, model: Any, x: torch.Tensor, target: Target, layer: Any, options: Options
    ) -> Attribution:
        _, _, height, width = x.shape
        generator = torch.Generator().manual_seed(options.seed)
        cell_h, cell_w = -(-height // options.grid), -(-width // options.grid)
        total = torch.zeros((height, width))
        with torch.no_grad():
            base = target(model(x))
            for start in range(0, options.masks, options.batch_size):
                count = min(options.batch_size, options.masks - start)
                cells = (
                    torch.rand((count, 1, options.grid, options.grid), generator=generator)
                    < options.probability
                ).float()
                grown = F.interpolate(
                    cells,
                    size=((options.grid + 1) * cell_h, (options.grid + 1) * cell_w),
                    mode="bilinear",
                    align_corners=False,
                )
                dy = torch.randint(0, cell_h, (count,), generator=generator)
                dx = torch.randint(0, cell_w, (count,), generator=generator)
                masks = torch.stack(
                    [grown[i, 0, dy[i] : dy[i] + height, dx[i] : dx[i] + width] for i in range(count)]
                )
                scores = target(model(x * masks[:, None]))
                total += (scores[:, None, None] * masks).sum(dim=0)
                options.progress.step(start + count, options.masks)
        params = {
            "masks": options.masks,
            "grid": options.grid,
            "probability": options.probability,
            "seed": options.seed,
        }
        return Attribution(
            (total / (options.masks * options.probability)).numpy(), float(base[0]), params=params
        )


METHODS: dict[str, Explainer] = {
    method.name: method
    for method in (
        Saliency(),
        SmoothGrad(),
        IntegratedGradients(),
        GuidedBackprop(),
        CAM(),
        GradCAM(),
        GradCAMPlusPlus(),
        ScoreCAM(),
        EigenCAM(),
        GuidedGradCAM(),
        Occlusion(),
        Rise(),
    )
}
