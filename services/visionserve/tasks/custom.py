"""A user's VisionModel as a task: its hooks, the service's parameters and checks around them."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchvision.ops import batched_nms

from visionserve.config import ModelConfig
from visionserve.custom import RequestOptions, UserResult, VisionModel
from visionserve.errors import ModelError, ServiceError
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
        # postprocess(output, meta, size) from before options existed keeps working.
        self._takes_options = len(inspect.signature(user.postprocess).parameters) >= 4

    def parse_params(self, raw: dict[str, Any]) -> UserParams:
        if self.cfg.task == "classification":
            return UserParams(top_k=parse_top_k(raw, self.cfg, len(self.labels)), detect=None)
        if self.cfg.task in ("detection", "instance_segmentation"):
            return UserParams(top_k=None, detect=parse_detect_params(raw, self.cfg))
        return UserParams(top_k=None, detect=None)

    def _failed(self, hook: str, exc: Exception) -> ModelError:
        return ModelError(f"{type(self.user).__name__}.{hook} raised {type(exc).__name__}: {exc}")

    def preprocess(self, image: DecodedImage) -> Prepared:
        try:
            tensor, meta = self.user.preprocess(image.pixels)
        except ServiceError:
            raise
        except Exception as exc:  # the user's code: its fault named, not the service's 500
            raise self._failed("preprocess", exc) from exc
        tensor = np.ascontiguousarray(tensor, dtype=np.float32)
        if tensor.ndim != 3:
            raise ModelError(
                f"{type(self.user).__name__}.preprocess must return (C, H, W), got {tensor.shape}"
            )
        return Prepared(tensor, image.width, image.height, 1.0, meta)

    def check_output(self, outputs: Any) -> None:
        if not isinstance(outputs, (np.ndarray, list, tuple, dict)):
            raise ValueError(f"unexpected model output {type(outputs).__name__}")

    def split(self, outputs: Any, count: int) -> list[Any]:
        """Each image's rows of every output: a dict of named outputs and a tuple of a module's
        outputs keep their shape; a list is one item an image already."""
        if isinstance(outputs, dict):
            return [{key: value[i] for key, value in outputs.items()} for i in range(count)]
        if isinstance(outputs, tuple):
            return [tuple(value[i] for value in outputs) for i in range(count)]
        return [outputs[i] for i in range(count)]

    def options(self, params: UserParams) -> RequestOptions:
        if params.detect is not None:
            return RequestOptions(
                score_threshold=params.detect.score_threshold,
                iou_threshold=params.detect.iou_threshold,
                max_detections=params.detect.max_detections,
            )
        return RequestOptions(top_k=params.top_k)

    def postprocess(self, output: Any, item: Prepared, params: UserParams) -> UserResult:
        size = ImageSize(width=item.width, height=item.height)
        try:
            if self._takes_options:
                result = self.user.postprocess(output, item.meta, size, self.options(params))
            else:
                result = self.user.postprocess(output, item.meta, size)  # type: ignore[call-arg]
        except ServiceError:
            raise
        except Exception as exc:
            raise self._failed("postprocess", exc) from exc
        expected = _RESULT_FOR_TASK[self.cfg.task]
        if not isinstance(result, expected):
            raise ModelError(
                f"{type(self.user).__name__}.postprocess returned {type(result).__name__}, "
                f"a {self.cfg.task} model must return {expected[0].__name__}"
            )
        if isinstance(result, Classification) and params.top_k is not None:
            return result.model_copy(update={"classes": result.classes[: params.top_k]})
        if isinstance(result, DetectionResult) and params.detect is not None:
            return result.model_copy(update={"detections": _selected(result.detections, params)})
        if isinstance(result, InstanceSegmentation) and params.detect is not None:
            return result.model_copy(update={"instances": _selected(result.instances, params)})
        return result


def _selected(found: list[Any], params: UserParams) -> list[Any]:
    """Detections or instances the request keeps: over its score threshold, then non-maximum
    suppression per class at its IoU threshold, then at most max_detections, best first."""
    assert params.detect is not None
    found = [d for d in found if d.score >= params.detect.score_threshold]
    if not found:
        return []
    boxes = torch.tensor([d.box for d in found], dtype=torch.float64)
    scores = torch.tensor([d.score for d in found], dtype=torch.float64)
    classes = torch.tensor([d.class_index for d in found])
    keep = batched_nms(boxes, scores, classes, params.detect.iou_threshold)  # sorted by score
    return [found[int(i)] for i in keep[: params.detect.max_detections]]
