"""Which configured model a request is for, checked before anything is sent to a replica.

Pure: no Ray, no FastAPI. Every refusal here costs the caller a lookup, not a hop to a
replica and back: unknown models, a model of another task, explanations the model does not
offer or that cost more than the limits allow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from visionserve.config import ModelConfig, PipelineConfig, ServiceConfig
from visionserve.errors import ExplanationTooCostly, ModelNotFound, TaskMismatch, Unprocessable
from visionserve.explain.cost import forward_passes
from visionserve.explain.support import supported_methods
from visionserve.ingress.routes import EXPLAINABLE, V2_TASKS, routes_for_task
from visionserve.metrics import note_model

Entry = ModelConfig | PipelineConfig


def _routes_of(task: str) -> str:
    paths = [r.path for r in routes_for_task(task)]
    return paths[0] if len(paths) == 1 else f"{', '.join(paths[:-1])} or {paths[-1]}"


class Catalog:
    def __init__(self, config: ServiceConfig, explainer_enabled: bool) -> None:
        self._config = config
        self.explainer_enabled = explainer_enabled
        wanted = config.explainer.models
        self.explain_methods: Mapping[str, list[str]] = {
            m.name: supported_methods(m)
            for m in config.models
            if explainer_enabled and (wanted is None or m.name in wanted)
        }

    @property
    def entries(self) -> list[Entry]:
        return self._config.entries

    def entry(self, name: str) -> Entry:
        """The configured model or pipeline NAME (noted for metrics); ModelNotFound otherwise."""
        found = self._config.entry(name)
        if found is None:
            names = ", ".join(e.name for e in self._config.entries)
            raise ModelNotFound(f"unknown model {name!r}; available: {names}")
        note_model(found.name)
        return found

    def model_for(self, name: str | None, tasks: Sequence[str]) -> Entry:
        """The model NAME, which must be of one of TASKS; without a name, the first such model."""
        wanted = " or ".join(t.replace("_", " ") for t in tasks)
        if name is None:
            for entry in self._config.entries:
                if entry.task in tasks:
                    note_model(entry.name)
                    return entry
            raise ModelNotFound(f"no {wanted} model is configured")
        found = self.entry(name)
        if found.task not in tasks:
            raise TaskMismatch(
                f"model {name!r} is a {found.task.replace('_', ' ')} model, not {wanted}: "
                f"use POST {_routes_of(found.task)}"
            )
        return found

    def oip_entry(self, name: str) -> Entry:
        """A model served on /v2: one whose task has tensors there."""
        entry = self.entry(name)
        if entry.task not in V2_TASKS:
            raise TaskMismatch(f"model {name!r} is a {entry.task} model: use {_routes_of(entry.task)}")
        return entry

    def explainable(self, name: str | None, images: int, params: Mapping[str, Any]) -> Entry:
        """The model to explain (default: the first that offers explanations), checked: the
        work is affordable, one image is given, and the model offers the methods asked for."""
        if name is None:
            name = next((n for n, methods in self.explain_methods.items() if methods), None)
            if name is None:
                raise ModelNotFound("no model is configured for explanations")
        entry = self.model_for(name, EXPLAINABLE)
        offered = self.explain_methods.get(entry.name)
        if not offered:
            raise Unprocessable(f"model {entry.name!r} offers no explanation methods")
        self._check_cost(entry, params)
        if images != 1:
            raise Unprocessable(f"explain takes exactly one image per request, got {images}")
        for method in params.get("methods", []):
            if method not in offered:
                raise Unprocessable(
                    f"method {method!r} is not available for model {entry.name}; "
                    f"it offers: {', '.join(offered)}"
                )
        return entry

    def _check_cost(self, entry: Entry, params: Mapping[str, Any]) -> None:
        """Refused before it is queued: one request must not hold an explainer for minutes."""
        if not isinstance(entry, ModelConfig):
            return
        # A user's preprocess decides its input size: its occlusion is priced by the explainer.
        own_size = entry.source.head == "custom" and entry.preprocess.input_size is None
        side = None if own_size else entry.preprocess.input_size or entry.preprocess.max_size
        passes = forward_passes(params.get("methods", []), dict(params), side)
        limit = self._config.limits.max_explanation_passes
        if passes > limit:
            raise ExplanationTooCostly(
                f"this explanation takes about {passes} forward passes of {entry.name}, over the "
                f"limit of {limit} (limits.max_explanation_passes): fewer steps, samples or masks, "
                "or a larger occlusion stride"
            )

    def understandable(self, name: str | None) -> ModelConfig:
        """The torch model a view is for; default: the first torch model the explainer holds."""
        if not self.explainer_enabled:
            raise Unprocessable(
                "the explanation deployment is off (explainer.enabled): no understanding views"
            )
        candidates = [m for m in self._config.models if m.torch_model and self.explain_methods.get(m.name)]
        if name is None:
            if not candidates:
                raise ModelNotFound("no torch model is configured for the understanding views")
            note_model(candidates[0].name)
            return candidates[0]
        entry = self.entry(name)
        if not isinstance(entry, ModelConfig) or entry not in candidates:
            raise Unprocessable(
                f"model {name!r} offers no understanding views: they need a torch model the "
                "explanation deployment holds"
            )
        return entry

    def reference_sets(self) -> None:
        """Reference sets live on the explainer: refused when it is off."""
        if not self.explainer_enabled:
            raise Unprocessable("the explanation deployment is off (explainer.enabled): no reference sets")
