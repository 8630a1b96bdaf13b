"""One model, loaded and ready to serve: files -> runner + task -> typed results.

Pure composition of registry, runtime, imaging and tasks (no Ray), so that everything a
model replica does can be tested in-process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from visionserve.backend_choice import choose
from visionserve.config import PIXEL_CEILING, ModelConfig
from visionserve.errors import InvalidImage, ServiceError, Unprocessable
from visionserve.imaging import DecodedImage, decode
from visionserve.registry import load_model, load_user_class, read_label_spec, resolve_labels
from visionserve.tasks import ClipTask, Prepared, Task, task_for
from visionserve.tasks.custom import UserModelTask
from visionserve_client.types import RuntimeChoice


class ModelEngine:
    def __init__(self, cfg: ModelConfig, *, model_dirs: Sequence[Path], cache_dir: Path) -> None:
        started = time.perf_counter()
        self.cfg = cfg
        dirs = list(model_dirs)
        user = load_user_class(cfg) if cfg.source.kind == "python" else None
        self.labels = resolve_labels(cfg.source, model_dirs=dirs, cache_dir=cache_dir)
        if user is not None:
            self.labels = self.labels or list(user.labels)
            self.task: Task[Any, Any] = UserModelTask(cfg, self.labels, user)
        else:
            self.task = task_for(cfg, self.labels)
        loaded = load_model(cfg, self.labels, model_dirs=dirs, cache_dir=cache_dir, user=user)
        self.runner = loaded.runner
        self.version = loaded.version
        self._decode: Callable[..., DecodedImage] = partial(decode, needed=self.task.decode_size)
        if cfg.runtime.jpeg_decoder == "torchvision":
            from visionserve.runtime.jpeg import decode_on_device

            self._decode = partial(decode_on_device, device=cfg.runtime.device)
        self.text = loaded.text
        if isinstance(self.task, ClipTask) and self.text is not None:
            self.task.logit_scale, self.task.logit_bias = self.text.logit_scale, self.text.logit_bias
            self.task.label_sets = {
                name: read_label_spec(spec, model_dirs=dirs, cache_dir=cache_dir)
                for name, spec in cfg.label_sets.items()
            }
        # A first batch both warms the runtime up and proves that the model's output fits the
        # task and the label set: weights and labels that drifted apart fail here, at load.
        gray = DecodedImage(pixels=np.full((64, 64, 3), 128, dtype=np.uint8), format="PNG")
        warm = self.task.preprocess(gray)
        self.task.check_output(self.runner.run(self.task.collate([warm])))
        self.runtime: RuntimeChoice | None = None
        if cfg.runtime.backend in ("openvino", "auto") and loaded.graph is not None:
            chosen = choose(
                cfg,
                self.task,
                self.runner,
                loaded.graph,
                self.version,
                model_dirs=dirs,
                cache_dir=cache_dir,
                max_pixels=PIXEL_CEILING,
            )
            self.runner, self.runtime = chosen.runner, chosen.report
        if cfg.runtime.compile:
            # torch.compile specialises a batch of 1; the first larger batch compiles the graph
            # that every other size shares (24 s on an H200 machine, longer in a 4-CPU
            # replica): here, not inside the first request's timeout, which it ran past (504).
            self.runner.run(self.task.collate([warm, warm]))
        self.served = (
            (self.runtime.backend, self.runtime.precision)
            if self.runtime
            else (cfg.runtime.backend, cfg.runtime.precision)
        )
        """The backend and precision that serve: auto's choice, or the config's."""
        self.load_seconds = time.perf_counter() - started

    def parse_params(self, raw: dict[str, Any]) -> Any:
        return self.task.parse_params(raw)

    def prepare(self, data: bytes, *, max_pixels: int) -> Prepared:
        """Decode and preprocess one image; thread-safe, meant for a worker pool."""
        return self.prepare_timed(data, max_pixels=max_pixels)[0]

    def prepare_timed(self, data: bytes, *, max_pixels: int) -> tuple[Prepared, float, float]:
        """``prepare``, with the seconds spent decoding and preprocessing."""
        started = time.perf_counter()
        image = self._decode(data, max_pixels=max_pixels)
        decoded = time.perf_counter()
        prepared = self.task.preprocess(image)
        return prepared, decoded - started, time.perf_counter() - decoded

    def prepare_pixels(self, pixels: np.ndarray) -> Prepared:
        """Preprocess an already decoded (H, W, 3) uint8 RGB image."""
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
            raise InvalidImage(f"expected (H, W, 3) uint8 pixels, got {pixels.shape} {pixels.dtype}")
        return self.task.preprocess(DecodedImage(pixels=pixels, format="RAW"))

    def check_texts(self, texts: Sequence[str]) -> list[int]:
        """Token counts; Unprocessable for an empty text or one over the tokenizer's limit."""
        if self.text is None:
            raise Unprocessable(f"model {self.cfg.name} has no text encoder")
        counts = []
        for index, text in enumerate(texts):
            if not text.strip():
                raise Unprocessable(f"text {index} is empty")
            tokens = self.text.count_tokens(text)
            if tokens > self.text.context_length:
                raise Unprocessable(
                    f"text {index} is {tokens} tokens, over the model's limit of {self.text.context_length}"
                )
            counts.append(tokens)
        return counts

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) L2-normalised text embeddings, as one batch."""
        assert self.text is not None
        return np.asarray(self.text.runner.run(self.text.tokenize(list(texts))), dtype=np.float32)

    def infer(self, items: Sequence[Prepared], params: Sequence[Any]) -> list[BaseModel]:
        """Run prepared images as one batch; each keeps its own request's parameters."""
        results = self.infer_timed(items, params)[0]
        for result in results:
            if isinstance(result, ServiceError):
                raise result
        return results  # type: ignore[return-value]

    def infer_timed(
        self, items: Sequence[Prepared], params: Sequence[Any]
    ) -> tuple[list[BaseModel | ServiceError], float, float]:
        """``infer``, with the seconds the model ran (collate included) and postprocessing took.
        An image whose postprocessing refuses it (a ServiceError: a user's decoder that raised)
        has that error in its place: the batch's other images keep their results."""
        started = time.perf_counter()
        outputs = self.task.split(self.runner.run(self.task.collate(items)), len(items))
        ran = time.perf_counter()
        results: list[BaseModel | ServiceError] = []
        for i in range(len(items)):
            try:
                results.append(self.task.postprocess(outputs[i], items[i], params[i]))
            except ServiceError as exc:
                results.append(exc)
        return results, ran - started, time.perf_counter() - ran
