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
from visionserve.imaging import decode
from visionserve.registry import build_runner, read_labels, resolve_file
from visionserve.tasks import Prepared, task_for


class ModelEngine:
    def __init__(self, cfg: ModelConfig, *, model_dirs: Sequence[Path], cache_dir: Path) -> None:
        started = time.perf_counter()
        self.cfg = cfg
        dirs = list(model_dirs)
        weights = resolve_file(cfg.source.weights, model_dirs=dirs, cache_dir=cache_dir)
        labels_file = resolve_file(cfg.source.labels, model_dirs=dirs, cache_dir=cache_dir)
        self.labels = read_labels(labels_file, cfg.source.labels.format)
        self.task = task_for(cfg, self.labels)
        self.runner = build_runner(cfg, weights)
        # A first batch both warms the runtime up and proves that the model's output fits the
        # task and the label set: weights and labels that drifted apart fail here, at load.
        size = cfg.preprocess.input_size
        self.task.check_output(self.runner.run(np.zeros((1, 3, size, size), dtype=np.float32)))
        self.load_seconds = time.perf_counter() - started

    @property
    def version(self) -> str:
        """The weights digest, verified at load."""
        return self.cfg.source.weights.sha256

    def parse_params(self, raw: dict[str, Any]) -> Any:
        return self.task.parse_params(raw)

    def prepare(self, data: bytes, *, max_pixels: int) -> Prepared:
        """Decode and preprocess one image; thread-safe, meant for a worker pool."""
        return self.task.preprocess(decode(data, max_pixels=max_pixels))

    def infer(self, items: Sequence[Prepared], params: Sequence[Any]) -> list[BaseModel]:
        """Run prepared images as one batch; each keeps its own request's parameters."""
        outputs = self.runner.run(np.stack([item.tensor for item in items]))
        return [self.task.postprocess(outputs[i], items[i], params[i]) for i in range(len(items))]
