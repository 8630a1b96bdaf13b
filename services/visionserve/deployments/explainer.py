"""The explanation deployment: its own copies of the models, scaled apart from serving.

Explanations cost tens to thousands of forward passes; in their own replicas they can never
starve predictions. Each replica loads the models it explains once and runs explanations in
a small thread pool, one at a time per model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from visionserve.config import ExplainerConfig, LimitsConfig, MetricsConfig, ModelConfig
from visionserve.deployments.logs import quiet_expected_errors
from visionserve.deployments.priority import lower_priority
from visionserve.engine import ModelEngine
from visionserve.errors import ModelUnavailable, Unprocessable
from visionserve.explain.progress import Progress, ProgressEvents
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

    def _loaded(self, name: str, images: list[bytes]) -> ExplainableModel:
        model = self._models.get(name)
        if model is None:
            why = self._errors.get(name, "it is not configured for explanations")
            raise ModelUnavailable(f"model {name} cannot be explained now: {why}")
        if len(images) != 1:
            raise Unprocessable(f"explain takes exactly one image per request, got {len(images)}")
        return model

    def _explain(
        self, name: str, model: ExplainableModel, data: bytes, raw_params: dict[str, Any], progress: Progress
    ) -> PredictOutput:
        result = model.explain(
            data,
            raw_params,
            max_pixels=self._limits.max_image_pixels,
            max_passes=self._limits.max_explanation_passes,
            progress=progress,
        )
        for explanation in result.explanations:
            self._metrics.explained(name, explanation.method, explanation.seconds)
        return PredictOutput(model_version=model.engine.version, results=[result])

    async def explain(self, name: str, images: list[bytes], raw_params: dict[str, Any]) -> PredictOutput:
        model = self._loaded(name, images)
        progress = Progress()
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(
            self._pool, lambda: self._explain(name, model, images[0], raw_params, progress)
        )
        try:
            return await work
        finally:
            progress.cancel()  # a caller that gave up (timeout, disconnect) frees the thread

    async def explain_stream(
        self, name: str, images: list[bytes], raw_params: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any] | PredictOutput]:
        """Progress events as dicts while the methods run, then the PredictOutput.

        Nothing is yielded before the request has been checked and the image decoded, so the
        caller can still answer a bad request with its 4xx. Closing the stream cancels the work
        at its next batch."""
        model = self._loaded(name, images)
        loop = asyncio.get_running_loop()
        heard: asyncio.Queue[tuple[str, int, int]] = asyncio.Queue()
        progress = Progress(lambda *event: loop.call_soon_threadsafe(heard.put_nowait, event))
        work = loop.run_in_executor(
            self._pool, lambda: self._explain(name, model, images[0], raw_params, progress)
        )
        events = ProgressEvents(raw_params.get("methods", []))
        try:
            while not work.done() or not heard.empty():
                waiter = asyncio.ensure_future(heard.get())
                await asyncio.wait({waiter, work}, return_when=asyncio.FIRST_COMPLETED)
                if not waiter.done():
                    waiter.cancel()
                    continue
                pending = [waiter.result()]
                while not heard.empty():
                    pending.append(heard.get_nowait())
                for event in events.worth_sending(pending, loop.time()):
                    yield event
            yield work.result()
        finally:
            progress.cancel()
            if not work.done():  # cancelled: the thread stops at its next batch; nobody awaits it
                work.add_done_callback(lambda done: done.exception())
