"""Instance masks from a detector and a semantic segmenter: boxes -> crops -> masks -> pasted back.

Each kept box is enlarged by ``padding`` of its size (context helps the segmenter), clipped
to the image, cropped, and segmented on its own; the segmenter's mask of the wanted class is
pasted back at the crop's place and cut to the box, so an instance's mask never leaves its box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from visionserve.tasks.masks import decode_rle, encode_rle
from visionserve_client.types import (
    Detection,
    ImageSize,
    Instance,
    InstanceSegmentation,
    SemanticSegmentation,
)


@dataclass(frozen=True)
class Crop:
    detection: Detection
    left: int
    top: int
    right: int
    bottom: int


def crop_for(detection: Detection, width: int, height: int, padding: float) -> Crop:
    x1, y1, x2, y2 = detection.box
    pad_x, pad_y = (x2 - x1) * padding, (y2 - y1) * padding
    left, top = max(0, math.floor(x1 - pad_x)), max(0, math.floor(y1 - pad_y))
    right, bottom = min(width, math.ceil(x2 + pad_x)), min(height, math.ceil(y2 + pad_y))
    return Crop(detection, left, top, max(right, left + 1), max(bottom, top + 1))


def plan_crops(
    detections: Sequence[Detection], classes: Sequence[str], size: ImageSize, padding: float, limit: int
) -> list[Crop]:
    kept = [d for d in detections if d.label in classes][:limit]
    return [crop_for(d, size.width, size.height, padding) for d in kept]


def cut(pixels: np.ndarray, crop: Crop) -> np.ndarray:
    return np.ascontiguousarray(pixels[crop.top : crop.bottom, crop.left : crop.right])


def paste(crop: Crop, segmented: SemanticSegmentation, segment_class: str, size: ImageSize) -> np.ndarray:
    """The instance's (H, W) mask in original pixels, cut to its box."""
    full = np.zeros((size.height, size.width), dtype=bool)
    entry = next((c for c in segmented.classes if c.label == segment_class), None)
    if entry is None or entry.mask is None:
        return full
    full[crop.top : crop.bottom, crop.left : crop.right] = decode_rle(entry.mask)
    x1, y1, x2, y2 = crop.detection.box
    inside = np.zeros_like(full)
    inside[math.floor(y1) : math.ceil(y2), math.floor(x1) : math.ceil(x2)] = True
    return full & inside


def assemble(
    size: ImageSize,
    crops: Sequence[Crop],
    segmented: Sequence[SemanticSegmentation],
    segment_class: str,
    include_masks: bool,
) -> InstanceSegmentation:
    instances = [
        Instance(
            box=crop.detection.box,
            label=crop.detection.label,
            class_index=crop.detection.class_index,
            score=crop.detection.score,
            mask=encode_rle(paste(crop, result, segment_class, size)) if include_masks else None,
        )
        for crop, result in zip(crops, segmented, strict=True)
    ]
    return InstanceSegmentation(image=size, instances=instances)
