"""The explanation deployment: its own copies of the models, scaled apart from serving.

Explanations cost tens to thousands of forward passes; in their own replicas they can never
starve predictions. Each replica loads the models it explains once and runs explanations in
a small thread pool, one at a time per model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from visionserve.config import ExplainerConfig, LimitsConfig, MetricsConfig, ModelConfig
from visionserve.deployments.logs import quiet_expected_errors
from visionserve.deployments.priority import lower_priority
from visionserve.engine import ModelEngine
from visionserve.errors import Forbidden, ModelUnavailable, Unprocessable
from visionserve.explain.line import WorkLine
from visionserve.explain.progress import Progress, ProgressEvents
from visionserve.explain.service import ExplainableModel
from visionserve.metrics import ExplainerMetrics
from visionserve.outputs import PredictOutput
from visionserve.settings import Settings
from visionserve.understand.refsets import ReferenceSet, ReferenceSets
from visionserve.understand.views import Understanding

logger = logging.getLogger("visionserve")

T = TypeVar("T")


CHANNELS_LAST_TASKS = ("classification", "semantic_segmentation")


def explanation_config(model: ModelConfig) -> ModelConfig:
    """The explainer's copy of a torch model: the eager torch module (gradients need it, also
    where serving uses an ONNX export), on the served device and precision, never compiled
    (explanations run the eager module; compiling only slows the replica's start). A graph's
    bf16 or int8 on OpenVINO is the served graph's: the eager module stays fp32. Built-in
    convolutional classifiers and segmenters keep their weights channels-last (a user's module
    may ``view`` its activations as if contiguous): EfficientNet-Lite0 ran forward
    and backward passes 1.5x faster so (bf16 forwards at 8 a batch: 161 images/s, not 109)."""
    update: dict[str, object] = {"backend": "torch", "compile": False}
    if model.runtime.backend in ("openvino", "auto"):
        update["precision"] = "fp32"
    if model.task in CHANNELS_LAST_TASKS and model.source.kind in ("efficientnet_lite", "torchvision"):
        update["channels_last"] = True
    runtime = model.runtime.model_copy(update=update)
    return model.model_copy(update={"runtime": runtime})


class ExplainerDeployment:
    def __init__(
        self,
        cfg: ExplainerConfig,
        models: list[ModelConfig],
        limits: LimitsConfig,
        model_dirs: list[str],
        cache_dir: str,
        metrics: MetricsConfig | None = None,
        data_dir: str | None = None,
    ) -> None:
        quiet_expected_errors()
        self._limits = limits
        self._metrics = ExplainerMetrics(metrics or MetricsConfig())
        self._models: dict[str, ExplainableModel] = {}
        self._errors: dict[str, str] = {}
        # Explanations wait for their turn in one line (explain.line): cfg.threads at once, one
        # per model. Every request gets a thread at once, so that it is checked and its image
        # decoded before it waits, and a waiting caller hears its place.
        line = WorkLine(cfg.threads)
        for model in models:
            if model.torch_model:  # gradients need the torch module, also where serving uses an export
                model = explanation_config(model)
            try:
                engine = ModelEngine(
                    model, model_dirs=[Path(d) for d in model_dirs], cache_dir=Path(cache_dir)
                )
                self._models[model.name] = ExplainableModel(engine, line, bf16=cfg.bf16)
            except Exception as exc:  # one model failing to load must not hide the others
                self._errors[model.name] = f"{type(exc).__name__}: {exc}"
                logger.error("explainer could not load %s: %s", model.name, self._errors[model.name])
        self._understand = cfg.understand
        self._sets = ReferenceSets(
            Path(data_dir or Settings.from_env().data_dir),
            cfg.understand.max_reference_images,
            limits.max_image_pixels,
        )
        self._understanding = {
            name: Understanding(model, self._sets, cfg.understand)
            for name, model in self._models.items()
            if model.module is not None
        }
        priority = (cfg.cpu_priority,)
        self._pool = ThreadPoolExecutor(
            max(cfg.threads, cfg.max_ongoing_requests),
            thread_name_prefix="explain",
            initializer=lower_priority,
            initargs=priority,
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
        return await self._run(lambda progress: self._explain(name, model, images[0], raw_params, progress))

    async def explain_stream(
        self, name: str, images: list[bytes], raw_params: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any] | PredictOutput]:
        """Progress events as dicts while the methods run, then the PredictOutput. A request
        that waits for its model behind others hears a ``queue`` event, again as the line moves
        (ExplainableModel.explain checks the request and decodes the image first, so a bad
        request is still refused before anything is sent)."""
        model = self._loaded(name, images)
        model.check_request(raw_params)
        work = lambda progress: self._explain(name, model, images[0], raw_params, progress)  # noqa: E731
        async for event in self._streamed(work, raw_params.get("methods", [])):
            yield event

    # ------------------------------------------------------------------ understanding views

    async def understand(
        self, view: str, name: str, images: list[bytes], raw: dict[str, Any]
    ) -> PredictOutput:
        return await self._run(self._view(view, name, images, raw))

    async def understand_stream(
        self, view: str, name: str, images: list[bytes], raw: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any] | PredictOutput]:
        async for event in self._streamed(self._view(view, name, images, raw), []):
            yield event

    def _view(self, view: str, name: str, images: list[bytes], raw: dict[str, Any]) -> Work:
        understanding = self._understanding.get(name)
        if understanding is None:
            why = self._errors.get(name) or "it is not a torch model: the views need its module"
            raise Unprocessable(f"model {name} offers no understanding views: {why}")
        pixels = self._limits.max_image_pixels

        def one() -> bytes:
            if len(images) != 1:
                raise Unprocessable(f"this view takes exactly one image, got {len(images)}")
            return images[0]

        views: dict[str, Callable[[Progress], dict[str, Any]]] = {
            "filters": lambda progress: understanding.filters(),
            "neighbours": lambda progress: understanding.neighbours(images, raw, pixels, progress),
            "map": lambda progress: understanding.feature_map(raw, pixels, progress),
            "top_patches": lambda progress: understanding.top_patches(raw, pixels, progress),
            "class_model": lambda progress: understanding.class_model(raw, progress),
            "inversion": lambda progress: understanding.inversion(one(), raw, pixels, progress),
            "deepdream": lambda progress: understanding.deepdream(one(), raw, pixels, progress),
            "attention_rollout": lambda progress: understanding.attention_rollout(one(), raw, pixels),
        }
        if view not in views:
            raise Unprocessable(f"unknown view {view!r}")
        version = understanding.engine.version
        return lambda progress: PredictOutput(model_version=version, results=[], fields=views[view](progress))

    async def create_reference_set(
        self, name: str, images: list[tuple[str, bytes]] | None, folder: str | None
    ) -> dict[str, Any]:
        if folder is not None:
            path = self._importable(folder)
            made = await self._run(lambda progress: self._sets.from_folder(name, path))
        else:
            made = await self._run(lambda progress: self._sets.create(name, images or []))
        return describe_set(made)

    def _importable(self, folder: str) -> Path:
        path = Path(folder).expanduser().resolve()
        roots = [Path(r).expanduser().resolve() for r in self._understand.folder_roots]
        if not any(path == root or root in path.parents for root in roots):
            allowed = ", ".join(map(str, roots)) or "none are configured (understand.folder_roots)"
            raise Forbidden(f"{folder} is not under a folder sets may be imported from: {allowed}")
        if not path.is_dir():
            raise Unprocessable(f"{folder} is not a folder")
        return path

    async def reference_sets(self) -> list[dict[str, Any]]:
        return [describe_set(s) for s in self._sets.list()]

    async def reference_set(self, set_id: str) -> dict[str, Any]:
        return describe_set(self._sets.get(set_id))

    async def delete_reference_set(self, set_id: str) -> None:
        self._sets.delete(set_id)

    # ------------------------------------------------------------------ running work

    async def _run(self, work: Callable[[Progress], T]) -> T:
        """Work in the pool; a caller that gives up (timeout, disconnect) cancels it."""
        progress = Progress()
        work_done = asyncio.get_running_loop().run_in_executor(self._pool, lambda: work(progress))
        try:
            return await work_done
        finally:
            progress.cancel()

    async def _streamed(self, work: Work, stages: list[str]) -> AsyncIterator[dict[str, Any] | PredictOutput]:
        """Progress events as dicts while the work runs, then its result.

        Nothing is yielded before the request has been checked and its image decoded (the work
        reports its place in its model's line, or begins its first stage, after that), so the
        caller can still answer a bad request with its 4xx. Closing the stream cancels the work
        at its next step, or takes it out of the line."""
        loop = asyncio.get_running_loop()
        heard: asyncio.Queue[tuple[str, int, int]] = asyncio.Queue()

        def hear(stage: str, done: int, total: int) -> None:
            loop.call_soon_threadsafe(heard.put_nowait, (stage, done, total))

        progress = Progress(hear)
        running = loop.run_in_executor(self._pool, lambda: work(progress))
        events = ProgressEvents(stages)
        try:
            while not running.done() or not heard.empty():
                waiter = asyncio.ensure_future(heard.get())
                racing: set[asyncio.Future[Any]] = {waiter, running}
                await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
                if not waiter.done():
                    waiter.cancel()
                    continue
                pending = [waiter.result()]
                while not heard.empty():
                    pending.append(heard.get_nowait())
                for event in events.worth_sending(pending, loop.time()):
                    yield event
            yield running.result()
        finally:
            progress.cancel()
            if not running.done():  # cancelled: the thread stops at its next step; nobody awaits it
                running.add_done_callback(lambda done: done.exception())


Work = Callable[[Progress], PredictOutput]


def describe_set(made: ReferenceSet) -> dict[str, Any]:
    items = [{k: v for k, v in asdict(i).items() if k != "file"} for i in made.items]
    return {"id": made.id, "name": made.name, "created": made.created, "count": len(items), "items": items}
