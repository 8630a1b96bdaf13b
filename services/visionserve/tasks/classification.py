"""Image classification: resize, center crop, softmax, top-k."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from visionserve.config import ModelConfig
from visionserve.errors import Unprocessable
from visionserve.imaging import DecodedImage
from visionserve.tasks.base import (
    Prepared,
    Task,
    center_crop_geometry,
    center_crop_input,
    center_crop_size,
    center_crop_to_original,
)
from visionserve_client.types import Classification, ClassScore, ImageSize, InputGeometry


@dataclass(frozen=True)
class ClassifyParams:
    top_k: int


def parse_top_k(raw: dict[str, Any], cfg: ModelConfig, classes: int) -> int:
    top_k = raw.get("top_k")
    if top_k is None:
        return min(cfg.defaults.top_k, classes)
    if not 1 <= top_k <= classes:
        raise Unprocessable(f"top_k must be between 1 and {classes} (the model's class count), got {top_k}")
    return int(top_k)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max()
    exp = np.exp(shifted)
    probabilities: np.ndarray = exp / exp.sum()
    return probabilities


class ClassificationTask(Task[ClassifyParams, Classification]):
    name = "classification"

    def parse_params(self, raw: dict[str, Any]) -> ClassifyParams:
        return ClassifyParams(top_k=parse_top_k(raw, self.cfg, len(self.labels)))

    def preprocess(self, image: DecodedImage) -> Prepared:
        return center_crop_input(image, self.cfg)

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        return center_crop_size(width, height, self.cfg)

    def map_to_original(self, values: np.ndarray, item: Prepared) -> np.ndarray:
        return center_crop_to_original(values, item, self.cfg)

    def geometry(self, item: Prepared, input_width: int, input_height: int) -> InputGeometry:
        return center_crop_geometry(item, self.cfg, input_width, input_height)

    def check_output(self, output: np.ndarray) -> None:
        if output.ndim != 2 or output.shape[1] != len(self.labels):
            raise ValueError(f"model output {tuple(output.shape)} does not match {len(self.labels)} labels")

    def postprocess(self, output: np.ndarray, item: Prepared, params: ClassifyParams) -> Classification:
        probs = softmax(output)
        top = np.argsort(-probs, kind="stable")[: params.top_k]
        return Classification(
            image=ImageSize(width=item.width, height=item.height),
            classes=[ClassScore(index=int(i), label=self.labels[i], score=float(probs[i])) for i in top],
        )
