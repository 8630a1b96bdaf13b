"""A model replica: decode in a thread pool, batch across requests, infer off the event loop.

The event loop only moves futures: decoding and preprocessing run in ``decode_threads``
workers while the previous batch runs in the single inference thread, so the next batch
fills while the model works (visionserve.batching: a batch starts when the model is free and
waits only for images still being decoded).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel
from ray import serve

from visionserve.batching import Batcher, DecodeBudget, QueueBudget
from visionserve.config import LimitsConfig, MetricsConfig, ModelConfig
from visionserve.deployments.logs import quiet_expected_errors
from visionserve.deployments.priority import lower_thread_priority
from visionserve.engine import ModelEngine
from visionserve.errors import InvalidImage, ModelUnavailable, ServiceError
from visionserve.metadata import describe
from visionserve.metrics import ModelMetrics
from visionserve.outputs import PredictOutput
from visionserve.tasks import Prepared
from visionserve.tasks.clip import as_wire
from visionserve_client.types import ModelInfo, ModelLabels, TextEmbedding

logger = logging.getLogger("visionserve")


TEXT_CACHE_SIZE = 20_000
# A prepared image, with the seconds spent decoding and preprocessing it.
Timed = tuple[Prepared, float, float]


class TextCache:
    """Embeddings of recently seen texts (zero-shot prompts repeat), least recently used out."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, text: str) -> np.ndarray | None:
        found = self._items.get(text)
        if found is not None:
            self._items.move_to_end(text)
        return found

    def put(self, text: str, embedding: np.ndarray) -> None:
        self._items[text] = embedding
        self._items.move_to_end(text)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)


class ModelDeployment:
    def __init__(
        self,
        cfg: ModelConfig,
        limits: LimitsConfig,
        model_dirs: list[str],
        cache_dir: str,
        metrics: MetricsConfig | None = None,
    ) -> None:
        quiet_expected_errors()
        self._cfg = cfg
        self._limits = limits
        self._metrics = ModelMetrics(metrics or MetricsConfig(), cfg)
        self._engine: ModelEngine | None = None
        self._error: str | None = None
        try:
            self._engine = ModelEngine(
                cfg, model_dirs=[Path(d) for d in model_dirs], cache_dir=Path(cache_dir)
            )
            logger.info("model %s loaded in %.1fs", cfg.name, self._engine.load_seconds)
            self._metrics.loaded(cfg, self._engine.version, self._engine.load_seconds, self._engine.served)
        except Exception as exc:  # keep the replica up so /readyz can say why
            self._error = f"{type(exc).__name__}: {exc}"
            logger.error("model %s failed to load: %s", cfg.name, self._error)
        # Decoders below the model's threads: onnxruntime's parallel sections then keep both
        # cores, and decoding fills the gaps between them (load_tests/README.md, decode priority).
        self._decode_pool = ThreadPoolExecutor(
            cfg.deployment.decode_threads,
            thread_name_prefix=f"decode-{cfg.name}",
            initializer=lower_thread_priority,
            initargs=(cfg.deployment.decode_priority,),
        )
        self._infer_pool = ThreadPoolExecutor(1, thread_name_prefix=f"infer-{cfg.name}")
        self._texts = TextCache(TEXT_CACHE_SIZE)
        # Decoded images waiting for the model: enough for the running batch, the next one and
        # one being decoded; more only costs memory and the model's cores.
        self._decode_budget = DecodeBudget(3 * cfg.batching.max_batch_size)
        max_queue_ms = cfg.batching.max_queue_ms
        self._queue_budget = QueueBudget(cfg.name, None if max_queue_ms is None else max_queue_ms / 1000)
        self._batcher: Batcher[tuple[Prepared, Any], BaseModel] = Batcher(
            self._infer_batch,
            max_batch_size=cfg.batching.max_batch_size,
            wait_s=cfg.batching.wait_ms / 1000.0,
            on_batch=self._metrics.batch,
        )

    def info(self) -> ModelInfo:
        if self._engine is None:
            return describe(self._cfg, labels_count=None, error=self._error)
        engine = self._engine
        return describe(
            self._cfg, labels_count=len(engine.labels), version=engine.version, runtime=engine.runtime
        )

    def labels(self) -> ModelLabels:
        """The label set, in the order of the model's class indices."""
        engine = self._ready_engine()
        return ModelLabels(model=self._cfg.name, model_version=engine.version, labels=list(engine.labels))

    def batch_stats(self) -> dict[str, int]:
        """Batches run and images in them since the replica started (mean batch = images / batches)."""
        stats = self._batcher.stats
        return {"batches": stats.batches, "images": stats.items}

    def _ready_engine(self) -> ModelEngine:
        if self._engine is None:
            raise ModelUnavailable(f"model {self._cfg.name} is not loaded: {self._error}")
        return self._engine

    async def predict(self, images: list[bytes], raw_params: dict[str, Any]) -> PredictOutput:
        """Compressed images in, decoded and preprocessed in the decode pool."""
        engine = self._ready_engine()
        prepare = partial(engine.prepare_timed, max_pixels=self._limits.max_image_pixels)
        return await self._predict(engine, engine.parse_params(raw_params), prepare, images)

    async def predict_pixels(self, images: list[np.ndarray], raw_params: dict[str, Any]) -> PredictOutput:
        """Decoded (H, W, 3) uint8 RGB images in: for pipelines that already hold the pixels."""
        engine = self._ready_engine()
        return await self._predict(engine, engine.parse_params(raw_params), self._timed_pixels, images)

    def _timed_pixels(self, pixels: np.ndarray) -> tuple[Prepared, float, float]:
        started = time.perf_counter()
        prepared = self._ready_engine().prepare_pixels(pixels)
        return prepared, 0.0, time.perf_counter() - started

    async def _predict(
        self, engine: ModelEngine, params: Any, prepare: Callable[[Any], Timed], images: list[Any]
    ) -> PredictOutput:
        with self._queue_budget.admit(len(images)):
            async with self._decode_budget.hold(len(images)):
                with self._batcher.incoming(len(images)):  # the batch being formed may wait for these
                    prepared = await self._prepare_all(prepare, images)
                    texts = engine.task.texts_needed(params)
                    if texts:
                        engine.check_texts(texts)
                        params = engine.task.with_text_embeddings(params, await self._text_embeddings(texts))
                    pending = self._batcher.enqueue([(item, params) for item in prepared])
                results = await asyncio.gather(*pending)
        return PredictOutput(
            model_version=engine.version, results=list(results), fields=engine.task.response_fields(params)
        )

    async def _prepare_all(self, prepare: Callable[[Any], Timed], images: list[Any]) -> list[Prepared]:
        """Decode and preprocess in the decode pool; the first bad image fails the request."""
        loop = asyncio.get_running_loop()
        outcomes = await asyncio.gather(
            *(loop.run_in_executor(self._decode_pool, prepare, image) for image in images),
            return_exceptions=True,
        )
        prepared: list[Prepared] = []
        for index, outcome in enumerate(outcomes):
            where = f"image {index}: " if len(images) > 1 else ""
            if isinstance(outcome, ServiceError):
                raise type(outcome)(f"{where}{outcome.message}")
            if isinstance(outcome, BaseException):
                # Decoders raise assorted errors on hostile files; the file is the cause.
                logger.warning("unexpected error preparing image %d: %r", index, outcome)
                raise InvalidImage(f"{where}the image could not be decoded: {outcome}")
            item, decode_s, preprocess_s = outcome
            self._metrics.prepared(decode_s, preprocess_s, item.width * item.height)
            prepared.append(item)
        return prepared

    async def embed_texts(self, texts: list[str], raw_params: dict[str, Any]) -> PredictOutput:
        engine = self._ready_engine()
        params = engine.parse_params(raw_params)
        counts = engine.check_texts(texts)
        embeddings = await self._text_embeddings(texts)
        results = [
            TextEmbedding(text=text, tokens=count, embedding=as_wire(vector, params.dtype))
            for text, count, vector in zip(texts, counts, embeddings, strict=True)
        ]
        return PredictOutput(
            model_version=engine.version, results=results, fields=engine.task.response_fields(params)
        )

    async def _text_embeddings(self, texts: list[str]) -> np.ndarray:
        """Embeddings of texts already checked by ``engine.check_texts``, from the cache or batched."""
        missing = list(dict.fromkeys(t for t in texts if self._texts.get(t) is None))
        computed = await asyncio.gather(*(self._text_batch(text) for text in missing))
        for text, vector in zip(missing, computed, strict=True):
            self._texts.put(text, vector)
        return np.stack([self._texts.get(t) for t in texts])  # type: ignore[misc]

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)
    async def _text_batch(self, texts: list[str]) -> list[np.ndarray]:
        engine = self._ready_engine()
        loop = asyncio.get_running_loop()
        matrix = await loop.run_in_executor(self._infer_pool, engine.encode_texts, texts)
        return list(matrix)

    async def _infer_batch(self, requests: list[tuple[Prepared, Any]]) -> list[BaseModel | ServiceError]:
        engine = self._ready_engine()
        items = [item for item, _ in requests]
        params = [p for _, p in requests]
        loop = asyncio.get_running_loop()
        results, inference_s, postprocess_s = await loop.run_in_executor(
            self._infer_pool, engine.infer_timed, items, params
        )
        self._metrics.ran(inference_s, postprocess_s)
        self._queue_budget.observe(len(items), inference_s + postprocess_s)
        self._metrics.results([r for r in results if isinstance(r, BaseModel)])
        return results
