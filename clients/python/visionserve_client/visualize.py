"""Results as pixels: masks and maps to numpy, boxes, masks and heatmaps drawn on the image.

Needs the optional extra ``visionserve-client[images]`` (Pillow and numpy), imported only
when this module is.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from visionserve_client import colours
from visionserve_client.types import (
    RLE,
    DetectionResult,
    FloatMap,
    InputGeometry,
    InstanceSegmentation,
    MethodExplanation,
    SemanticSegmentation,
)

# Distinct, readable on photos (Tableau 10).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)  # fmt: skip


def mask_to_numpy(rle: RLE) -> np.ndarray:
    """A COCO run-length encoded mask (the compressed string form) as a (height, width) bool array."""
    height, width = rle.size
    counts = _rle_counts(rle.counts)
    flat = np.zeros(height * width, dtype=bool)
    position, value = 0, False
    for run in counts:
        if value:
            flat[position : position + run] = True
        position += run
        value = not value
    if position != height * width:
        raise ValueError(f"RLE covers {position} pixels, not {height}x{width}")
    return flat.reshape(width, height).T  # COCO runs go down the columns


def _rle_counts(text: str) -> list[int]:
    """pycocotools' string form: 5-bit groups, 6th bit continues, deltas from the run two back."""
    counts: list[int] = []
    index = 0
    while index < len(text):
        value, shift, more = 0, 0, True
        while more:
            chunk = ord(text[index]) - 48
            value |= (chunk & 0x1F) << shift
            more = bool(chunk & 0x20)
            index += 1
            shift += 5
            if not more and chunk & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def floatmap_to_numpy(values: FloatMap) -> np.ndarray:
    """An explanation's raw map as a (height, width) float32 array."""
    data = np.frombuffer(base64.b64decode(values.data), dtype="<f2").astype(np.float32)
    return data.reshape(values.shape) * np.float32(values.scale)


def png_image(data: str) -> Image.Image:
    """A base64 PNG from a response (label maps, score maps, explanation views) as a PIL image."""
    return Image.open(io.BytesIO(base64.b64decode(data)))


def draw_detections(image: Image.Image, result: DetectionResult, *, width: int = 3) -> Image.Image:
    """A copy of the image with each detection's box and 'label score' drawn on it."""
    drawn = image.convert("RGB")
    pen = ImageDraw.Draw(drawn)
    for detection in result.detections:
        color = PALETTE[detection.class_index % len(PALETTE)]
        _box(pen, detection.box, f"{detection.label} {detection.score:.2f}", color, width)
    return drawn


def draw_segmentation(
    image: Image.Image, result: SemanticSegmentation | InstanceSegmentation, *, alpha: float = 0.5
) -> Image.Image:
    """A copy of the image with each mask tinted in (and, for instances, its box drawn)."""
    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    regions: list[tuple[np.ndarray, tuple[int, int, int]]] = []
    if isinstance(result, SemanticSegmentation):
        for item in result.classes:
            if item.mask is not None:
                regions.append((mask_to_numpy(item.mask), PALETTE[item.index % len(PALETTE)]))
    else:
        for number, instance in enumerate(result.instances):
            if instance.mask is not None:
                regions.append((mask_to_numpy(instance.mask), PALETTE[number % len(PALETTE)]))
    for mask, color in regions:
        if mask.shape != base.shape[:2]:
            raise ValueError(
                f"mask is {mask.shape}, the image {base.shape[:2]}: draw on the image that was sent"
            )
        base[mask] = base[mask] * (1 - alpha) + np.asarray(color, dtype=np.float32) * alpha
    drawn = Image.fromarray(base.round().astype(np.uint8))
    if isinstance(result, InstanceSegmentation):
        pen = ImageDraw.Draw(drawn)
        for number, instance in enumerate(result.instances):
            _box(
                pen, instance.box, f"{instance.label} {instance.score:.2f}", PALETTE[number % len(PALETTE)], 2
            )
    return drawn


def overlay_heatmap(
    image: Image.Image,
    explanation: MethodExplanation,
    geometry: InputGeometry | None = None,
    *,
    alpha: float = 0.5,
) -> Image.Image:
    """The explanation's normalised map over the image, in the colours every view uses
    (``visionserve_client.colours``: sequential for unsigned maps, diverging for signed ones).
    Given the result's ``geometry``, what the model never saw is dimmed and hatched, not
    coloured as if it did not matter."""
    gray = png_image(explanation.normalized_png).convert("L")
    if gray.size != image.size:
        gray = gray.resize(image.size, Image.Resampling.BILINEAR)
    values = colours.from_png(np.asarray(gray), explanation.signed)
    seen = None
    if geometry is not None:
        seen = _scaled_box(geometry.image_box, explanation.raw.shape, (image.height, image.width))
    photo = np.asarray(image.convert("RGB"))
    return Image.fromarray(colours.blend(photo, values, explanation.signed, alpha, seen))


def _scaled_box(box: Sequence[int], shape: Sequence[int], size: Sequence[int]) -> colours.Box:
    """A box in the map's pixels (``shape``: height, width) in an image of ``size`` (h, w)."""
    fy, fx = size[0] / shape[0], size[1] / shape[1]
    x1, y1, x2, y2 = box
    return round(x1 * fx), round(y1 * fy), round(x2 * fx), round(y2 * fy)


def _box(
    pen: ImageDraw.ImageDraw,
    box: Sequence[float],
    caption: str,
    color: tuple[int, int, int],
    width: int,
) -> None:
    x1, y1, x2, y2 = (float(v) for v in box)
    pen.rectangle((x1, y1, x2, y2), outline=color, width=width)
    left, top, right, bottom = pen.textbbox((x1, y1), caption)
    lift = bottom - top + 4
    y = y1 - lift if y1 >= lift else y1
    pen.rectangle((x1, y, x1 + (right - left) + 4, y + lift), fill=color)
    pen.text((x1 + 2, y + 1), caption, fill=(255, 255, 255))
