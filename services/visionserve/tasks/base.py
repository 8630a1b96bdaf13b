"""What every task implements: preprocess one image, postprocess one output row.

A task turns a decoded image into the model's input (``preprocess``, run per image in the
decode pool, overlapped with inference) and one row of the model's batched output into a
typed result (``postprocess``). Per-request parameters are checked by ``parse_params``
before any image is decoded.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from PIL import Image
from pydantic import BaseModel

from visionserve.config import ModelConfig
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

    @abstractmethod
    def check_output(self, output: np.ndarray) -> None:
        """Refuse at load time a model whose output does not fit the task and labels."""

    @abstractmethod
    def postprocess(self, output: np.ndarray, item: Prepared, params: ParamsT) -> ResultT:
        """One image's result from its row of the batched model output."""
