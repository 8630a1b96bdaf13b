"""Methods that read the score's gradient at the input: saliency, SmoothGrad, integrated
gradients and guided backpropagation."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from visionserve.errors import Unprocessable
from visionserve.explain.base import Attribution, Explainer, Forward
from visionserve.explain.guided import GuidedReLUs
from visionserve.explain.options import Options
from visionserve.explain.targets import Target


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
