"""The explanation deployment: its own copies of the models, scaled apart from serving.

Explanations cost tens to thousands of forward passes; in their own replicas they can never
starve predictions. Each replica loads the models it explains once and runs explanations in
a small thread pool, one at a time per model.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from visionserve.config import ExplainerConfig, LimitsConfig, MetricsConfig, ModelConfig
from visionserve.deployments.logs import quiet_expected_errors
from visionserve.deployments.priority import lower_priority
from visionserve.engine import ModelEngine
from visionserve.errors import ModelUnavailable, Unprocessable
from visionserve.explain.service import ExplainableModel
from visionserve.metrics import ExplainerMetrics
from visionserve.outputs import PredictOutput

logger = logging.getLogger("visionserve")


class ExplainerDeployment:
    def __init__(
        self,
        cfg: ExplainerConfig,
        models: list[ModelConfig],
        limits: LimitsConfig,
        model_dirs: list[str],
        cache_dir: str,
        metrics: MetricsConfig | None = None,
    ) -> None:
        quiet_expected_errors()
        self._limits = limits
        self._metrics = ExplainerMetrics(metrics or MetricsConfig())
        self._models: dict[str, ExplainableModel] = {}
        self._errors: dict[str, str] = {}
        for model in models:
            if model.torch_model:  # gradients need the torch module, also where serving uses an export
                model = model.model_copy(
                    update={"runtime": model.runtime.model_copy(update={"backend": "torch"})}
                )
            try:
                engine = ModelEngine(
                    model, model_dirs=[Path(d) for d in model_dirs], cache_dir=Path(cache_dir)
                )
                self._models[model.name] = ExplainableModel(engine)
            except Exception as exc:  # one model failing to load must not hide the others
                self._errors[model.name] = f"{type(exc).__name__}: {exc}"
                logger.error("explainer could not load %s: %s", model.name, self._errors[model.name])
        priority = (cfg.cpu_priority,)
        self._pool = ThreadPoolExecutor(
            cfg.threads, thread_name_prefix="explain", initializer=lower_priority, initargs=priority
        )
        lower_priority(cfg.cpu_priority)

    def default_layer(self, name: str) -> str | None:
        found = self._models.get(name)
        return found.layer if found else None

    async def explain(self, name: str, images: list[bytes], raw_params: dict[str, Any]) -> PredictOutput:
        model = self._models.get(name)
        if model is None:
            why = self._errors.get(name, "it is not configured for explanations")
            raise ModelUnavailable(f"model {name} cannot be explained now: {why}")
        if len(images) != 1:
            raise Unprocessable(f"explain takes exactly one image per request, got {len(images)}")
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(
            self._pool,
            lambda: model.explain(
                images[0],
                raw_params,
                max_pixels=self._limits.max_image_pixels,
                max_passes=self._limits.max_explanation_passes,
            ),
        )
        for explanation in result.explanations:
            self._metrics.explained(name, explanation.method, explanation.seconds)
        return PredictOutput(model_version=model.engine.version, results=[result])
