"""What every task implements: preprocess one image, postprocess one output row.

A task turns a decoded image into the model's input (``preprocess``, run per image in the
decode pool, overlapped with inference) and one row of the model's batched output into a
typed result (``postprocess``). Per-request parameters are checked by ``parse_params``
before any image is decoded.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import BaseModel

from visionserve.config import ModelConfig
from visionserve.errors import Unprocessable
from visionserve.imaging import DecodedImage
from visionserve_client.types import InputGeometry

ParamsT = TypeVar("ParamsT")
ResultT = TypeVar("ResultT", bound=BaseModel)


@dataclass(frozen=True)
class Prepared:
    tensor: np.ndarray
    """(3, H, W) float32, ready to stack into a batch."""
    width: int
    """Width of the original image as displayed."""
    height: int
    scale: float
    """Model-input pixels per original pixel (letterbox ratio); 1.0 where unused."""
    meta: Any = None
    """Whatever a user model's preprocess handed on to its postprocess."""


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize with antialiasing (Pillow widens the filter when it shrinks)."""
    if pixels.shape[1] == width and pixels.shape[0] == height:
        return pixels
    return np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR))


def normalise(pixels: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """HWC uint8 -> CHW float32 in the channel order, scale and statistics the model expects.

    (x / scale - mean) / std as one multiply-add in place, written straight into CHW order:
    this runs once per image on the request path.
    """
    p = cfg.preprocess
    mean = np.asarray(p.mean, dtype=np.float32)
    std = np.asarray(p.std, dtype=np.float32)
    multiplier = (1.0 / 255.0 if p.pixel_scale == 1 else 1.0) / std
    offset = -mean / std
    if p.channel_order == "bgr":
        pixels = pixels[:, :, ::-1]
        multiplier, offset = multiplier[::-1], offset[::-1]
    out = np.empty((3, pixels.shape[0], pixels.shape[1]), dtype=np.float32)
    for channel in range(3):
        np.multiply(pixels[:, :, channel], multiplier[channel], out=out[channel], casting="unsafe")
        out[channel] += offset[channel]
    return out


class Task(ABC, Generic[ParamsT, ResultT]):
    name: str

    def __init__(self, cfg: ModelConfig, labels: list[str]) -> None:
        self.cfg = cfg
        self.labels = labels

    @abstractmethod
    def parse_params(self, raw: dict[str, Any]) -> ParamsT:
        """Per-request parameters with the model's defaults filled in; Unprocessable if bad."""

    @abstractmethod
    def preprocess(self, image: DecodedImage) -> Prepared: ...

    def decode_size(self, width: int, height: int) -> tuple[int, int] | None:
        """The smallest (width, height) of a ``width`` x ``height`` image that ``preprocess``
        needs at full quality, so that a large JPEG can be decoded reduced; None: every pixel
        (user code that reads the pixels itself)."""
        return None

    def collate(self, items: Sequence[Prepared]) -> np.ndarray | list[np.ndarray]:
        """The runner's input for these items: one stacked batch by default."""
        return np.stack([item.tensor for item in items])

    def split(self, outputs: Any, count: int) -> list[Any]:
        """One output per item from the runner's batched output."""
        return [outputs[i] for i in range(count)]

    def map_to_original(self, values: np.ndarray, item: Prepared) -> np.ndarray:
        """A (h, w) map over the model's input -> (H, W) over the original image.

        By default the input is the whole image resized (stretched); tasks that crop or pad
        override this, and ``geometry`` with it."""
        return resize_map(values, item.width, item.height)

    def geometry(self, item: Prepared, input_width: int, input_height: int) -> InputGeometry:
        """Where the input lies on the original image, as ``map_to_original`` places it."""
        return InputGeometry(
            input_size=(input_width, input_height),
            input_box=(0, 0, input_width, input_height),
            image_box=(0, 0, item.width, item.height),
        )

    def texts_needed(self, params: ParamsT) -> list[str]:
        """Texts whose embeddings these parameters need before images run (CLIP zero-shot)."""
        return []

    def with_text_embeddings(self, params: ParamsT, embeddings: np.ndarray) -> ParamsT:
        """The parameters completed with the embeddings of ``texts_needed``, in that order."""
        return params

    def response_fields(self, params: ParamsT) -> dict[str, Any]:
        """Fields that the response carries beside the per-image results."""
        return {}

    @abstractmethod
    def check_output(self, outputs: Any) -> None:
        """Refuse at load time a model whose output does not fit the task and labels."""

    @abstractmethod
    def postprocess(self, output: Any, item: Prepared, params: ParamsT) -> ResultT:
        """One image's result from its share of the batched model output."""

    def class_indices(self, names: Sequence[str] | None) -> tuple[int, ...] | None:
        """Indices of the named labels; Unprocessable for a label the model does not have."""
        if names is None:
            return None
        index = {label: i for i, label in enumerate(self.labels)}
        unknown = [n for n in names if n not in index]
        if unknown:
            known = ", ".join(self.labels[:30]) + (", ..." if len(self.labels) > 30 else "")
            raise Unprocessable(f"unknown class {', '.join(map(repr, unknown))}; this model has: {known}")
        if not names:
            raise Unprocessable("classes must name at least one class, or be left out")
        return tuple(index[n] for n in names)


def resize_map(values: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of a float map (no antialiasing: maps are upsampled, mostly)."""
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    return F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)[0, 0].numpy()


def center_crop_region(width: int, height: int, cfg: ModelConfig) -> tuple[int, int, int, int, int]:
    """(resized width, resized height, left, top, side) of the center crop, in resized pixels."""
    p = cfg.preprocess
    assert p.resize is not None
    assert p.input_size is not None
    short = min(width, height)
    resized_w = max(p.input_size, round(width * p.resize / short))
    resized_h = max(p.input_size, round(height * p.resize / short))
    return (
        resized_w,
        resized_h,
        (resized_w - p.input_size) // 2,
        (resized_h - p.input_size) // 2,
        p.input_size,
    )


def center_crop_box(item: Prepared, cfg: ModelConfig) -> tuple[int, int, int, int]:
    """x1, y1, x2, y2 of the center crop in the original image's pixels."""
    resized_w, resized_h, left, top, side = center_crop_region(item.width, item.height, cfg)
    fx, fy = item.width / resized_w, item.height / resized_h
    x1, y1 = round(left * fx), round(top * fy)
    return x1, y1, min(item.width, round((left + side) * fx)), min(item.height, round((top + side) * fy))


def center_crop_to_original(values: np.ndarray, item: Prepared, cfg: ModelConfig) -> np.ndarray:
    """A map over the center crop, placed where the crop lies in the original image (0 elsewhere)."""
    x1, y1, x2, y2 = center_crop_box(item, cfg)
    full = np.zeros((item.height, item.width), dtype=np.float32)
    full[y1:y2, x1:x2] = resize_map(values, x2 - x1, y2 - y1)
    return full


def center_crop_geometry(item: Prepared, cfg: ModelConfig, width: int, height: int) -> InputGeometry:
    """The center crop's geometry: the whole input shows the crop box of the image."""
    return InputGeometry(
        input_size=(width, height), input_box=(0, 0, width, height), image_box=center_crop_box(item, cfg)
    )


def center_crop_size(width: int, height: int, cfg: ModelConfig) -> tuple[int, int]:
    """What ``center_crop_input`` needs of an image: its size with the shorter side resized."""
    resized_w, resized_h, *_ = center_crop_region(width, height, cfg)
    return resized_w, resized_h


def center_crop_input(image: DecodedImage, cfg: ModelConfig) -> Prepared:
    """Resize the shorter side to preprocess.resize, then take the central square input.

    Only the crop is resampled: Pillow's ``box`` reads the pixels under the crop and its
    filter's reach, with the same weights as resizing everything and cropping after, so the
    work is the crop's whatever the aspect ratio (a 1x2000 strip would otherwise be resized
    to 256x512000 first)."""
    resized_w, resized_h, left, top, side = center_crop_region(image.width, image.height, cfg)
    fx, fy = image.pixels.shape[1] / resized_w, image.pixels.shape[0] / resized_h
    x1, y1, x2, y2 = left * fx, top * fy, (left + side) * fx, (top + side) * fy
    # Only the pixels under the box and the filter's reach (its support, fx source pixels when
    # shrinking) become a Pillow image, not a copy of the whole picture.
    reach_x, reach_y = math.ceil(max(fx, 1.0)) + 1, math.ceil(max(fy, 1.0)) + 1
    ox, oy = max(0, math.floor(x1) - reach_x), max(0, math.floor(y1) - reach_y)
    window = image.pixels[oy : math.ceil(y2) + reach_y, ox : math.ceil(x2) + reach_x]
    box = (x1 - ox, y1 - oy, x2 - ox, y2 - oy)
    crop = np.asarray(Image.fromarray(window).resize((side, side), Image.Resampling.BILINEAR, box=box))
    return Prepared(normalise(crop, cfg), image.width, image.height, 1.0)


def any_size_scale(width: int, height: int, cfg: ModelConfig) -> float:
    """Model-input pixels per original pixel for models that take any size."""
    return min(1.0, cfg.preprocess.max_size / max(width, height))


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def any_size_input(image: DecodedImage, cfg: ModelConfig) -> Prepared:
    """For models that take any size: cap the longer side at preprocess.max_size."""
    scale = any_size_scale(image.width, image.height, cfg)
    width, height = scaled_size(image.width, image.height, scale)
    return Prepared(normalise(resize(image.pixels, width, height), cfg), image.width, image.height, scale)


def stretched_input(image: DecodedImage, cfg: ModelConfig) -> Prepared:
    """The whole image resized to the model's square input, aspect ratio not kept."""
    size = cfg.preprocess.input_size
    assert size is not None  # checked by ModelConfig
    return Prepared(normalise(resize(image.pixels, size, size), cfg), image.width, image.height, 1.0)
