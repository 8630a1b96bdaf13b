"""Object detection with a YOLOX head: letterbox, grid decode, class-wise NMS.

Output contract: boxes ``[x1, y1, x2, y2]`` in pixels of the original image as displayed,
clipped to it, best score first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torchvision.ops import batched_nms

from visionserve.config import ModelConfig
from visionserve.errors import Unprocessable
from visionserve.imaging import DecodedImage
from visionserve.tasks.base import Prepared, Task, normalise, resize, resize_map, scaled_size
from visionserve_client.types import Detection, DetectionResult, ImageSize, InputGeometry

YOLOX_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class DetectParams:
    score_threshold: float
    iou_threshold: float
    max_detections: int


def _bounded(raw: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = raw.get(key)
    if value is None:
        return default
    if not low <= value <= high:
        raise Unprocessable(f"{key} must be between {low:g} and {high:g}, got {value}")
    return float(value)


def parse_detect_params(raw: dict[str, Any], cfg: ModelConfig) -> DetectParams:
    d = cfg.defaults
    return DetectParams(
        score_threshold=_bounded(raw, "score_threshold", d.score_threshold, 0.0, 1.0),
        iou_threshold=_bounded(raw, "iou_threshold", d.iou_threshold, 0.0, 1.0),
        max_detections=int(_bounded(raw, "max_detections", d.max_detections, 1, 1000)),
    )


class YoloxDetectionTask(Task[DetectParams, DetectionResult]):
    name = "detection"

    def parse_params(self, raw: dict[str, Any]) -> DetectParams:
        return parse_detect_params(raw, self.cfg)

    def preprocess(self, image: DecodedImage) -> Prepared:
        """Letterbox: keep the aspect ratio, align top-left, pad the rest with pad_value."""
        size = self.cfg.preprocess.input_size
        assert size is not None  # checked by ModelConfig
        ratio = self._ratio(image.width, image.height)
        width, height = scaled_size(image.width, image.height, ratio)
        canvas = np.full((size, size, 3), self.cfg.preprocess.pad_value, dtype=np.uint8)
        canvas[:height, :width] = resize(image.pixels, width, height)
        return Prepared(normalise(canvas, self.cfg), image.width, image.height, ratio)

    def _ratio(self, width: int, height: int) -> float:
        size = int(self.cfg.preprocess.input_size or 0)
        return min(size / width, size / height)

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        return scaled_size(width, height, self._ratio(width, height))

    def map_to_original(self, values: np.ndarray, item: Prepared) -> np.ndarray:
        """The letterboxed image sits top-left in the input: cut it out and scale it back."""
        width, height = max(1, round(item.width * item.scale)), max(1, round(item.height * item.scale))
        return resize_map(values[:height, :width], item.width, item.height)

    def geometry(self, item: Prepared, input_width: int, input_height: int) -> InputGeometry:
        """All of the image, in the input's top-left corner; the rest of the input is padding."""
        width, height = max(1, round(item.width * item.scale)), max(1, round(item.height * item.scale))
        return InputGeometry(
            input_size=(input_width, input_height),
            input_box=(0, 0, min(width, input_width), min(height, input_height)),
            image_box=(0, 0, item.width, item.height),
        )

    @cached_property
    def _grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Per anchor point: (x, y) cell and its stride, in the head's output order."""
        size = int(self.cfg.preprocess.input_size or 0)
        cells, strides = [], []
        for stride in YOLOX_STRIDES:
            side = size // stride
            ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
            cells.append(np.stack((xs, ys), axis=-1).reshape(-1, 2))
            strides.append(np.full((side * side, 1), stride))
        return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)

    def check_output(self, output: np.ndarray) -> None:
        anchors = len(self._grid[0])
        expected = (anchors, 5 + len(self.labels))
        if output.ndim != 3 or tuple(output.shape[1:]) != expected:
            raise ValueError(
                f"model output {tuple(output.shape)} does not match a YOLOX head with "
                f"{len(self.labels)} labels at {self.cfg.preprocess.input_size}px: expected (N, *{expected})"
            )

    def postprocess(self, output: np.ndarray, item: Prepared, params: DetectParams) -> DetectionResult:
        cells, strides = self._grid
        centres = (output[:, :2] + cells) * strides
        sizes = np.exp(np.minimum(output[:, 2:4], 20.0)) * strides  # cap: exp overflow on junk
        scores = output[:, 4:5] * output[:, 5:]
        anchor_idx, class_idx = np.nonzero(scores >= params.score_threshold)
        size = ImageSize(width=item.width, height=item.height)
        if len(anchor_idx) == 0:
            return DetectionResult(image=size, detections=[])
        half = sizes[anchor_idx] / 2
        boxes = np.concatenate((centres[anchor_idx] - half, centres[anchor_idx] + half), axis=1)
        boxes /= item.scale
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, item.width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, item.height)
        chosen = scores[anchor_idx, class_idx]
        keep = batched_nms(
            torch.from_numpy(boxes),
            torch.from_numpy(chosen),
            torch.from_numpy(class_idx),
            params.iou_threshold,
        ).numpy()
        detections = []
        for i in keep:
            x1, y1, x2, y2 = (float(v) for v in boxes[i])
            if x2 - x1 < 1e-3 or y2 - y1 < 1e-3:
                continue  # nothing left after clipping to the image
            detections.append(
                Detection(
                    box=(x1, y1, x2, y2),
                    label=self.labels[class_idx[i]],
                    class_index=int(class_idx[i]),
                    score=float(min(1.0, chosen[i])),
                )
            )
            if len(detections) == params.max_detections:
                break
        return DetectionResult(image=size, detections=detections)
