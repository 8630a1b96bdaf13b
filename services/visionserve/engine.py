"""One model, loaded and ready to serve: files -> runner + task -> typed results.

Pure composition of registry, runtime, imaging and tasks (no Ray), so that everything a
model replica does can be tested in-process.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from visionserve.config import ModelConfig
from visionserve.imaging import DecodedImage, decode
from visionserve.registry import load_model, resolve_labels
from visionserve.tasks import Prepared, task_for


class ModelEngine:
    def __init__(self, cfg: ModelConfig, *, model_dirs: Sequence[Path], cache_dir: Path) -> None:
        started = time.perf_counter()
        self.cfg = cfg
        dirs = list(model_dirs)
        self.labels = resolve_labels(cfg.source, model_dirs=dirs, cache_dir=cache_dir)
        self.task = task_for(cfg, self.labels)
        loaded = load_model(cfg, self.labels, model_dirs=dirs, cache_dir=cache_dir)
        self.runner = loaded.runner
        self.version = loaded.version
        # A first batch both warms the runtime up and proves that the model's output fits the
        # task and the label set: weights and labels that drifted apart fail here, at load.
        gray = DecodedImage(pixels=np.full((64, 64, 3), 128, dtype=np.uint8), format="PNG")
        self.task.check_output(self.runner.run(self.task.collate([self.task.preprocess(gray)])))
        self.load_seconds = time.perf_counter() - started

    def parse_params(self, raw: dict[str, Any]) -> Any:
        return self.task.parse_params(raw)

    def prepare(self, data: bytes, *, max_pixels: int) -> Prepared:
        """Decode and preprocess one image; thread-safe, meant for a worker pool."""
        return self.task.preprocess(decode(data, max_pixels=max_pixels))

    def infer(self, items: Sequence[Prepared], params: Sequence[Any]) -> list[BaseModel]:
        """Run prepared images as one batch; each keeps its own request's parameters."""
        outputs = self.task.split(self.runner.run(self.task.collate(items)), len(items))
        return [self.task.postprocess(outputs[i], items[i], params[i]) for i in range(len(items))]
