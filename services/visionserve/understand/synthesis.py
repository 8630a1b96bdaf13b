"""Images made by gradient ascent on the input: class model visualisation (Simonyan et al.
2014, with Yosinski et al. 2015's regularisers), feature inversion (Mahendran & Vedaldi 2014)
and DeepDream (Mordvintsev et al. 2015). No Ray.

All three work in the model's input space (normalised tensors at its input size) and keep
every pixel inside the range a real image can take there, so that what comes out is an image
the model could have been given. Each step reports to ``Progress``, which can stop the work.
Random choices (jitter, the inversion's start) come from one seeded generator: the same seed
gives the same image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from visionserve.explain.layers import find_layer
from visionserve.explain.progress import Progress


@dataclass(frozen=True)
class PixelRange:
    """Per-channel bounds of a real image in the model's normalised input space."""

    low: torch.Tensor  # (1, C, 1, 1)
    high: torch.Tensor

    @classmethod
    def of(cls, mean: tuple[float, ...], std: tuple[float, ...], scale: float = 1.0) -> PixelRange:
        m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        return cls(low=(0.0 - m) / s, high=(scale - m) / s)

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        return torch.max(torch.min(x, self.high), self.low)

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Back to [0, 1] pixels (for PNGs and SSIM)."""
        return ((x - self.low) / (self.high - self.low)).clamp(0, 1)

    def from_unit(self, x: torch.Tensor) -> torch.Tensor:
        return self.low + x * (self.high - self.low)


class _Reached(Exception):
    """Raised by a hook once the layer's output is known: nothing after it needs to run."""


@contextmanager
def layer_output(model: torch.nn.Module, name: str) -> Iterator[Callable[[torch.Tensor], torch.Tensor]]:
    """A function x -> the layer's activation for x, stopping the forward pass there."""
    module, wants_input = find_layer(model, name)
    seen: list[torch.Tensor] = []

    def on_input(_module: Any, inputs: tuple[Any, ...]) -> None:
        seen.append(inputs[0])
        raise _Reached

    def on_output(_module: Any, _inputs: Any, output: Any) -> None:
        seen.append(output if isinstance(output, torch.Tensor) else output[0])
        raise _Reached

    handle = (
        module.register_forward_pre_hook(on_input) if wants_input else module.register_forward_hook(on_output)
    )

    def activation(x: torch.Tensor) -> torch.Tensor:
        seen.clear()
        with suppress(_Reached):
            model(x)
        if not seen:
            raise RuntimeError(f"layer {name} did not run for this input")
        return seen[0]

    try:
        yield activation
    finally:
        handle.remove()


MIN_BLUR_SIGMA = 0.01
"""A blur narrower than this (in pixels) leaves every pixel as it is; computed, its kernel's
1 / sigma^2 overflows float32 for a tiny legal sigma and the image becomes NaN."""


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma < MIN_BLUR_SIGMA:
        return x
    radius = max(1, math.ceil(2 * sigma))
    grid = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-(grid**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    horizontal = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    vertical = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), horizontal, groups=channels)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), vertical, groups=channels)


def _jittered(x: torch.Tensor, jitter: int, generator: torch.Generator) -> tuple[torch.Tensor, int, int]:
    if jitter <= 0:
        return x, 0, 0
    dx, dy = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3)), dx, dy


def _ascend(x: torch.Tensor, gradient: torch.Tensor, rate: float) -> torch.Tensor:
    """One step along the gradient normalised by its mean magnitude: the step size then means
    the same whatever the layer's or score's scale."""
    return x + rate * gradient / (gradient.abs().mean() + 1e-8)


@dataclass(frozen=True)
class ClassModelOptions:
    steps: int = 200
    learning_rate: float = 0.05
    l2: float = 1e-3
    jitter: int = 8
    blur_every: int = 25
    blur_sigma: float = 0.5
    seed: int = 0


def class_model(
    model: torch.nn.Module,
    target: int,
    size: tuple[int, int],
    pixels: PixelRange,
    options: ClassModelOptions,
    progress: Progress,
) -> torch.Tensor:
    """An image that maximises the class's logit, from a zero (mean-grey) image."""
    generator = torch.Generator().manual_seed(options.seed)
    x = torch.zeros((1, pixels.low.shape[1], *size))
    progress.begin("class_model", options.steps)
    for step in range(options.steps):
        shifted, dx, dy = _jittered(x, options.jitter, generator)
        with torch.enable_grad():
            inputs = shifted.detach().requires_grad_(True)
            objective = model(inputs)[0, target] - options.l2 * (inputs**2).sum()
            (gradient,) = torch.autograd.grad(objective, inputs)
        shifted = _ascend(shifted, gradient, options.learning_rate)
        x = pixels.clip(torch.roll(shifted, shifts=(-dy, -dx), dims=(2, 3)))
        if options.blur_every and (step + 1) % options.blur_every == 0 and step + 1 < options.steps:
            x = pixels.clip(gaussian_blur(x, options.blur_sigma))
        progress.step(step + 1, options.steps)
    return x.detach()


@dataclass(frozen=True)
class InversionOptions:
    steps: int = 200
    learning_rate: float = 0.05
    tv_weight: float = 0.5
    seed: int = 0


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels (the TV^2 prior, beta = 2)."""
    return ((x[..., 1:, :] - x[..., :-1, :]) ** 2).mean() + ((x[..., :, 1:] - x[..., :, :-1]) ** 2).mean()


def invert(
    model: torch.nn.Module,
    layer: str,
    original: torch.Tensor,
    pixels: PixelRange,
    options: InversionOptions,
    progress: Progress,
) -> tuple[torch.Tensor, float]:
    """(an image whose features at the layer match the original's, their relative L2 error)."""
    generator = torch.Generator().manual_seed(options.seed)
    progress.begin("inversion", options.steps)
    with layer_output(model, layer) as features, torch.enable_grad():
        wanted = features(original).detach()
        norm = wanted.pow(2).sum().clamp(min=1e-12)
        start = pixels.from_unit(0.5 + 0.05 * torch.randn(original.shape, generator=generator))
        x = start.clone().requires_grad_(True)
        optimiser = torch.optim.Adam([x], lr=options.learning_rate)
        for step in range(options.steps):
            optimiser.zero_grad()
            loss = (features(x) - wanted).pow(2).sum() / norm + options.tv_weight * total_variation(x)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            optimiser.step()
            with torch.no_grad():
                x.copy_(pixels.clip(x))
            progress.step(step + 1, options.steps)
        with torch.no_grad():
            error = float(((features(x) - wanted).pow(2).sum() / norm).sqrt())
    return x.detach(), error


@dataclass(frozen=True)
class DreamOptions:
    steps: int = 10
    octaves: int = 3
    octave_scale: float = 1.4
    learning_rate: float = 0.02
    jitter: int = 16
    seed: int = 0


def activation_norm(model: torch.nn.Module, layer: str, x: torch.Tensor) -> float:
    with layer_output(model, layer) as features, torch.no_grad():
        return float(features(x).norm())


def deepdream(
    model: torch.nn.Module,
    layer: str,
    image: torch.Tensor,
    pixels: PixelRange,
    options: DreamOptions,
    progress: Progress,
) -> torch.Tensor:
    """The image with what the layer sees in it amplified: gradient ascent on the layer's L2
    norm over octaves, small to full size, each octave's changes carried up to the next."""
    generator = torch.Generator().manual_seed(options.seed)
    height, width = image.shape[-2:]
    sizes = [
        (max(16, round(height / options.octave_scale**k)), max(16, round(width / options.octave_scale**k)))
        for k in reversed(range(options.octaves))
    ]
    total = options.steps * len(sizes)
    progress.begin("deepdream", total)
    detail = torch.zeros((1, image.shape[1], *sizes[0]))
    done = 0
    with layer_output(model, layer) as features:
        for size in sizes:
            base = F.interpolate(image, size=size, mode="bilinear", align_corners=False)
            detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
            x = base + detail
            for _ in range(options.steps):
                shifted, dx, dy = _jittered(x, options.jitter, generator)
                with torch.enable_grad():
                    inputs = shifted.detach().requires_grad_(True)
                    (gradient,) = torch.autograd.grad(features(inputs).pow(2).sum() / 2, inputs)
                shifted = _ascend(shifted, gradient, options.learning_rate)
                x = pixels.clip(torch.roll(shifted, shifts=(-dy, -dx), dims=(2, 3)))
                done += 1
                progress.step(done, total)
            detail = x - base
    return x.detach()


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two (H, W, C) images in [0, 1] (Wang et al. 2004: Gaussian
    window of sigma 1.5, K1 0.01, K2 0.03), averaged over channels."""
    x = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()
    y = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))[None].float()

    def mean(t: torch.Tensor) -> torch.Tensor:
        return gaussian_blur(t, 1.5)

    mx, my = mean(x), mean(y)
    vx, vy, cov = mean(x * x) - mx**2, mean(y * y) - my**2, mean(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    score = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(score.mean())
