"""A user's VisionModel as a task: its hooks, the service's parameters and checks around them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from visionserve.config import ModelConfig
from visionserve.custom import UserResult, VisionModel
from visionserve.imaging import DecodedImage
from visionserve.tasks.base import Prepared, Task
from visionserve.tasks.classification import parse_top_k
from visionserve.tasks.detection import DetectParams, parse_detect_params
from visionserve_client.types import (
    Classification,
    DetectionResult,
    ImageSize,
    InstanceSegmentation,
    SemanticSegmentation,
)

_RESULT_FOR_TASK: dict[str, tuple[type, ...]] = {
    "classification": (Classification,),
    "detection": (DetectionResult,),
    "semantic_segmentation": (SemanticSegmentation,),
    "instance_segmentation": (InstanceSegmentation,),
}


@dataclass(frozen=True)
class UserParams:
    top_k: int | None
    detect: DetectParams | None


class UserModelTask(Task[UserParams, Any]):
    name = "custom"

    def __init__(self, cfg: ModelConfig, labels: list[str], user: VisionModel) -> None:
        super().__init__(cfg, labels)
        self.user = user
        user.class_labels = labels

    def parse_params(self, raw: dict[str, Any]) -> UserParams:
        if self.cfg.task == "classification":
            return UserParams(top_k=parse_top_k(raw, self.cfg, len(self.labels)), detect=None)
        if self.cfg.task in ("detection", "instance_segmentation"):
            return UserParams(top_k=None, detect=parse_detect_params(raw, self.cfg))
        return UserParams(top_k=None, detect=None)

    def preprocess(self, image: DecodedImage) -> Prepared:
        tensor, meta = self.user.preprocess(image.pixels)
        tensor = np.ascontiguousarray(tensor, dtype=np.float32)
        if tensor.ndim != 3:
            raise ValueError(
                f"{type(self.user).__name__}.preprocess must return (C, H, W), got {tensor.shape}"
            )
        return Prepared(tensor, image.width, image.height, 1.0, meta)

    def check_output(self, outputs: Any) -> None:
        if not isinstance(outputs, (np.ndarray, list, dict)):
            raise ValueError(f"unexpected model output {type(outputs).__name__}")

    def split(self, outputs: Any, count: int) -> list[Any]:
        if isinstance(outputs, dict):  # several named outputs: each item gets its rows
            return [{key: value[i] for key, value in outputs.items()} for i in range(count)]
        return [outputs[i] for i in range(count)]

    def postprocess(self, output: Any, item: Prepared, params: UserParams) -> UserResult:
        size = ImageSize(width=item.width, height=item.height)
        result = self.user.postprocess(output, item.meta, size)
        expected = _RESULT_FOR_TASK[self.cfg.task]
        if not isinstance(result, expected):
            raise TypeError(
                f"{type(self.user).__name__}.postprocess returned {type(result).__name__}, "
                f"a {self.cfg.task} model must return {expected[0].__name__}"
            )
        if isinstance(result, Classification) and params.top_k is not None:
            return result.model_copy(update={"classes": result.classes[: params.top_k]})
        if isinstance(result, DetectionResult) and params.detect is not None:
            kept = [d for d in result.detections if d.score >= params.detect.score_threshold]
            return result.model_copy(update={"detections": kept[: params.detect.max_detections]})
        if isinstance(result, InstanceSegmentation) and params.detect is not None:
            kept_instances = [d for d in result.instances if d.score >= params.detect.score_threshold]
            return result.model_copy(update={"instances": kept_instances[: params.detect.max_detections]})
        return result
