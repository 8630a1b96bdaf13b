"""torchvision's detectors and Mask R-CNN: images of any size in, one dict per image out.

The models resize and normalise internally and return boxes in the coordinates of the image
they were given; the input here is the original capped at ``preprocess.max_size`` on its
longer side, so boxes (and masks) are scaled back to the original image.
Output contract: boxes ``[x1, y1, x2, y2]`` in original pixels, clipped, best score first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchvision.ops import batched_nms

from visionserve.imaging import DecodedImage
from visionserve.tasks.base import Prepared, Task, any_size_input, any_size_scale, scaled_size
from visionserve.tasks.detection import DetectParams, parse_detect_params
from visionserve.tasks.masks import encode_rle, upsample
from visionserve_client.types import (
    Detection,
    DetectionResult,
    ImageSize,
    Instance,
    InstanceSegmentation,
)


@dataclass(frozen=True)
class InstanceParams:
    detect: DetectParams
    classes: tuple[int, ...] | None
    include_masks: bool
    mask_threshold: float


@dataclass(frozen=True)
class _Kept:
    indices: np.ndarray
    boxes: np.ndarray


def _keep(
    output: dict[str, np.ndarray], item: Prepared, params: DetectParams, classes: tuple[int, ...] | None
) -> _Kept:
    scores, labels = output["scores"], output["labels"].astype(np.int64)
    chosen = scores >= params.score_threshold
    if classes is not None:
        chosen &= np.isin(labels, classes)
    indices = np.nonzero(chosen)[0]
    boxes = output["boxes"][indices].astype(np.float32) / item.scale
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, item.width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, item.height)
    # The model ran its own NMS at build time; a stricter per-request IoU applies on top.
    order = batched_nms(
        torch.from_numpy(boxes),
        torch.from_numpy(scores[indices]),
        torch.from_numpy(labels[indices]),
        params.iou_threshold,
    ).numpy()
    order = [i for i in order if boxes[i, 2] - boxes[i, 0] > 1e-3 and boxes[i, 3] - boxes[i, 1] > 1e-3]
    order = order[: params.max_detections]
    return _Kept(indices=indices[order], boxes=boxes[order])


class _TorchvisionTask(Task[Any, Any]):
    required_keys: tuple[str, ...] = ("boxes", "labels", "scores")

    def preprocess(self, image: DecodedImage) -> Prepared:
        return any_size_input(image, self.cfg)

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        return scaled_size(width, height, any_size_scale(width, height, self.cfg))

    def collate(self, items: Sequence[Prepared]) -> list[np.ndarray]:
        return [item.tensor for item in items]

    def check_output(self, outputs: Any) -> None:
        if not (isinstance(outputs, list) and outputs and isinstance(outputs[0], dict)):
            raise ValueError(
                f"expected one dict per image from a torchvision model, got {type(outputs).__name__}"
            )
        missing = [k for k in self.required_keys if k not in outputs[0]]
        if missing:
            raise ValueError(f"model output lacks {', '.join(missing)}")


class TorchvisionDetectionTask(_TorchvisionTask):
    name = "detection"

    def parse_params(self, raw: dict[str, Any]) -> DetectParams:
        return parse_detect_params(raw, self.cfg)

    def postprocess(self, output: Any, item: Prepared, params: DetectParams) -> DetectionResult:
        kept = _keep(output, item, params, None)
        labels, scores = output["labels"], output["scores"]
        return DetectionResult(
            image=ImageSize(width=item.width, height=item.height),
            detections=[
                Detection(
                    box=tuple(float(v) for v in box),  # type: ignore[arg-type]
                    label=self.labels[int(labels[i])],
                    class_index=int(labels[i]),
                    score=float(min(1.0, scores[i])),
                )
                for i, box in zip(kept.indices, kept.boxes, strict=True)
            ],
        )


class InstanceSegmentationTask(_TorchvisionTask):
    name = "instance_segmentation"
    required_keys = ("boxes", "labels", "scores", "masks")

    def parse_params(self, raw: dict[str, Any]) -> InstanceParams:
        threshold = raw.get("mask_threshold")
        return InstanceParams(
            detect=parse_detect_params(raw, self.cfg),
            classes=self.class_indices(raw.get("classes")),
            include_masks=True if raw.get("include_masks") is None else bool(raw["include_masks"]),
            mask_threshold=self.cfg.defaults.mask_threshold if threshold is None else float(threshold),
        )

    def postprocess(self, output: Any, item: Prepared, params: InstanceParams) -> InstanceSegmentation:
        kept = _keep(output, item, params.detect, params.classes)
        labels, scores = output["labels"], output["scores"]
        instances = []
        for i, box in zip(kept.indices, kept.boxes, strict=True):
            mask = None
            if params.include_masks:
                probability = upsample(output["masks"][i], item.height, item.width)[0].numpy()
                mask = encode_rle(probability >= params.mask_threshold)
            instances.append(
                Instance(
                    box=tuple(float(v) for v in box),  # type: ignore[arg-type]
                    label=self.labels[int(labels[i])],
                    class_index=int(labels[i]),
                    score=float(min(1.0, scores[i])),
                    mask=mask,
                )
            )
        return InstanceSegmentation(
            image=ImageSize(width=item.width, height=item.height), instances=instances
        )
