"""Explanation method options: torch-free, so that the ingress can price a request."""

from __future__ import annotations

from dataclasses import dataclass, field

from visionserve.explain.progress import NO_PROGRESS, Progress


@dataclass(frozen=True)
class Options:
    """Method options from the request (each method reads the ones it uses)."""

    steps: int = 32
    baseline: str = "zeros"
    samples: int = 16
    noise_level: float = 0.15
    seed: int = 0
    patch: int = 32
    stride: int = 16
    fill: float = 0.0
    masks: int = 512
    grid: int = 8
    probability: float = 0.5
    batch_size: int = 32
    progress: Progress = field(default=NO_PROGRESS, compare=False, repr=False)
    """Not from the request: where the running method reports its batches."""
