"""Explanation method options: torch-free, so that the ingress can price a request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from visionserve.errors import Unprocessable
from visionserve.explain.progress import NO_PROGRESS, Progress
from visionserve_client.types import ExplainMethod

OptionsT = TypeVar("OptionsT")


@dataclass(frozen=True)
class Options:
    """Method options from the request (each method reads the ones it uses)."""

    steps: int | None = None
    """Integrated Gradients' steps; None: as many as completeness needs, up to ``max_steps``."""
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
    batch_size: int = 8
    """Inputs per forward pass of the many-pass methods: EfficientNet-Lite0 on 2 CPU threads ran
    104 images/s at 8 in bf16 and 60 at 32 (46 and 23 in fp32): past the caches, bigger
    batches only cost memory."""
    progress: Progress = field(default=NO_PROGRESS, compare=False, repr=False)
    """Not from the request: where the running method reports its batches."""
    max_steps: int = 512
    """Not from the request: the most steps Integrated Gradients may add (its cost budget)."""


SERVICE_OPTIONS = ("progress", "max_steps")
"""Options the service sets, never the caller."""


def options_from(cls: type[OptionsT], raw: Mapping[str, Any]) -> OptionsT:
    """Options of dataclass CLS from a request's parameters: the fields the request sets (never
    ``progress``, which is the service's, not the caller's)."""
    names = (f.name for f in fields(cls) if f.name not in SERVICE_OPTIONS)  # type: ignore[arg-type]
    return cls(**{name: raw[name] for name in names if raw.get(name) is not None})


def class_index(label: str | None, index: int | None, labels: list[str]) -> int | None:
    """The class a request names by ``target_label`` or ``target_class``, checked against the
    model's labels; None when it names none."""
    if label is not None:
        if label not in labels:
            raise Unprocessable(f"unknown target_label {label!r} for this model")
        return labels.index(label)
    if index is not None and not 0 <= index < len(labels):
        raise Unprocessable(f"target_class {index} is out of range: this model has {len(labels)} classes")
    return None if index is None else int(index)


@dataclass(frozen=True)
class ExplainParams:
    methods: tuple[ExplainMethod, ...]
    options: Options
    target_class: int | None = None
    target_label: str | None = None
    target_text: str | None = None
    target_box_index: int | None = None
    target_box: tuple[float, float, float, float] | None = None
    layer: str | None = None
    fidelity: bool = False
    overlay: bool = False
    input_map: bool = False


def parse_explain_params(raw: dict[str, Any]) -> ExplainParams:
    return ExplainParams(
        methods=tuple(dict.fromkeys(raw["methods"])),
        options=options_from(Options, raw),
        target_class=raw.get("target_class"),
        target_label=raw.get("target_label"),
        target_text=raw.get("target_text"),
        target_box_index=raw.get("target_box_index"),
        target_box=tuple(raw["target_box"]) if raw.get("target_box") else None,
        layer=raw.get("layer"),
        fidelity=bool(raw.get("fidelity")),
        overlay=bool(raw.get("overlay")),
        input_map=bool(raw.get("input_map")),
    )
