"""Methods that read the score's gradient at the input: saliency, SmoothGrad, integrated
gradients and guided backpropagation."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from visionserve.errors import Unprocessable
from visionserve.explain.base import Attribution, Explainer, Forward
from visionserve.explain.cost import FIRST_STEPS
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


COMPLETENESS_TOLERANCE = 0.05
"""Integrated Gradients adds steps until its attributions sum to within this share of the
score's change from the baseline (the completeness axiom), unless the caller fixed the steps."""


class IntegratedGradients(Explainer):
    """Sundararajan et al. 2017, trapezoidal rule: (x - x') * mean gradient along the path.

    The attributions should sum to f(x) - f(x'); how far they miss is reported as
    ``completeness_gap`` (a share of that change). With no ``steps`` asked for, the path is
    refined (32, 64, 128... steps, each doubling evaluating only the new midpoints) until the
    gap is under 5% or the next doubling would pass ``max_steps``, the request's budget."""

    name = "integrated_gradients"

    def explain(
        self, model: Any, x: torch.Tensor, target: Target, layer: Any, options: Options
    ) -> Attribution:
        baseline = _baseline(x, options.baseline)
        fixed = options.steps is not None
        steps = options.steps if options.steps is not None else min(FIRST_STEPS, options.max_steps)
        path = _Path(model, x, baseline, target, options, most=(steps if fixed else options.max_steps) + 1)
        # Trapezoid sum of the path's gradients: ends weighted 1/2; doubling adds the midpoints.
        ends, end_scores = path.gradients(torch.tensor([0.0, 1.0]), keep_scores=True)
        total = ends / 2 + path.gradients(torch.arange(1, steps) / steps)[0]
        change = float(end_scores[1] - end_scores[0])
        gap = _gap((x - baseline)[0] * total / steps, change)
        while not fixed and gap >= COMPLETENESS_TOLERANCE and steps * 2 <= options.max_steps:
            total += path.gradients((torch.arange(steps) + 0.5) / steps)[0]
            steps *= 2
            gap = _gap((x - baseline)[0] * total / steps, change)
        options.progress.step(path.done, path.done)
        attribution = (x - baseline)[0] * total / steps
        chosen = "requested" if fixed else "converged" if gap < COMPLETENESS_TOLERANCE else "budget"
        params = {
            "steps": steps,
            "baseline": options.baseline,
            "completeness_gap": round(gap, 6),
            "score_change": round(change, 6),
            "steps_chosen": chosen,
        }
        return Attribution(attribution.sum(dim=0).numpy(), float(end_scores[1]), params=params)


class _Path:
    """Gradients at points of the straight path from the baseline to the input, in batches,
    summed as they come (never all held at once), the points counted for progress."""

    def __init__(self, model: Any, x: torch.Tensor, baseline: torch.Tensor, target: Target, options: Options,
                 most: int) -> None:  # fmt: skip
        self.model, self.x, self.baseline, self.target, self.options = model, x, baseline, target, options
        self.most = most
        self.done = 0

    def gradients(self, alphas: torch.Tensor, keep_scores: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The sum of the gradients at these points (or, ``keep_scores``, each point's gradient
        and score: for the two ends), in batches."""
        total = torch.zeros_like(self.x[0])
        grads, scores = [], []
        for start in range(0, len(alphas), self.options.batch_size):
            a = alphas[start : start + self.options.batch_size].view(-1, 1, 1, 1)
            grad, score = _input_gradient(
                self.model, self.baseline + a * (self.x - self.baseline), self.target
            )
            if keep_scores:
                grads.append(grad)
                scores.append(score)
            else:
                total += grad.sum(dim=0)
            self.done += len(a)
            self.options.progress.step(min(self.done, self.most), self.most)
        if keep_scores:
            stacked = torch.cat(grads)
            return stacked.sum(dim=0), torch.cat(scores)
        return total, torch.zeros(0)


def _gap(attribution: torch.Tensor, change: float) -> float:
    """How far the attributions' sum is from the score's change, as a share of the change
    (absolute where the change is ~0: ``score_change`` in the params tells which)."""
    missed = abs(float(attribution.sum()) - change)
    return missed / abs(change) if abs(change) > 1e-6 else missed


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
