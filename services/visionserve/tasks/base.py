"""What every task implements: preprocess one image, postprocess one output row.

A task turns a decoded image into the model's input (``preprocess``, run per image in the
decode pool, overlapped with inference) and one row of the model's batched output into a
typed result (``postprocess``). Per-request parameters are checked by ``parse_params``
before any image is decoded.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from PIL import Image
from pydantic import BaseModel

from visionserve.config import ModelConfig
from visionserve.errors import Unprocessable
from visionserve.imaging import DecodedImage

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
    """HWC uint8 -> CHW float32 in the channel order, scale and statistics the model expects."""
    p = cfg.preprocess
    if p.channel_order == "bgr":
        pixels = pixels[:, :, ::-1]
    x = pixels.astype(np.float32)
    if p.pixel_scale == 1:
        x *= 1.0 / 255.0
    mean = np.asarray(p.mean, dtype=np.float32)
    std = np.asarray(p.std, dtype=np.float32)
    if p.channel_order == "bgr":
        mean, std = mean[::-1], std[::-1]
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


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

    def collate(self, items: Sequence[Prepared]) -> np.ndarray | list[np.ndarray]:
        """The runner's input for these items: one stacked batch by default."""
        return np.stack([item.tensor for item in items])

    def split(self, outputs: Any, count: int) -> list[Any]:
        """One output per item from the runner's batched output."""
        return [outputs[i] for i in range(count)]

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


def center_crop_input(image: DecodedImage, cfg: ModelConfig) -> Prepared:
    """Resize the shorter side to preprocess.resize, then take the central square input."""
    p = cfg.preprocess
    assert p.resize is not None  # checked by ModelConfig
    assert p.input_size is not None
    short = min(image.width, image.height)
    width = max(p.input_size, round(image.width * p.resize / short))
    height = max(p.input_size, round(image.height * p.resize / short))
    pixels = resize(image.pixels, width, height)
    top = (height - p.input_size) // 2
    left = (width - p.input_size) // 2
    crop = pixels[top : top + p.input_size, left : left + p.input_size]
    return Prepared(normalise(crop, cfg), image.width, image.height, 1.0)


def any_size_input(image: DecodedImage, cfg: ModelConfig) -> Prepared:
    """For models that take any size: cap the longer side at preprocess.max_size."""
    scale = min(1.0, cfg.preprocess.max_size / max(image.width, image.height))
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    return Prepared(normalise(resize(image.pixels, width, height), cfg), image.width, image.height, scale)


def stretched_input(image: DecodedImage, cfg: ModelConfig) -> Prepared:
    """The whole image resized to the model's square input, aspect ratio not kept."""
    size = cfg.preprocess.input_size
    assert size is not None  # checked by ModelConfig
    return Prepared(normalise(resize(image.pixels, size, size), cfg), image.width, image.height, 1.0)
