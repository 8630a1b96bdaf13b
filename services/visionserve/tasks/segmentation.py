"""Semantic segmentation: per-class probability maps -> label map at the original size.

Two heads: ``mask_sigmoid`` (one foreground probability channel, e.g. a person/foreground
segmenter: classes background and foreground) and ``logits_map`` (C class logits per pixel,
torchvision's DeepLabV3 / LR-ASPP / FCN, whose output is ``{"out": (N, C, h, w)}``).
Probabilities are upsampled bilinearly to the original image before the argmax, so masks
follow the image's edges rather than the model's grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from visionserve.imaging import DecodedImage
from visionserve.tasks.base import Prepared, Task, stretched_input
from visionserve.tasks.masks import encode_rle, png_base64, upsampled_bands
from visionserve_client.types import ImageSize, SegmentClass, SemanticSegmentation


@dataclass(frozen=True)
class SemanticParams:
    classes: tuple[int, ...] | None
    include_masks: bool
    include_label_map: bool
    include_scores: bool


def _flag(raw: dict[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key)
    return default if value is None else bool(value)


class SemanticSegmentationTask(Task[SemanticParams, SemanticSegmentation]):
    name = "semantic_segmentation"

    def parse_params(self, raw: dict[str, Any]) -> SemanticParams:
        return SemanticParams(
            classes=self.class_indices(raw.get("classes")),
            include_masks=_flag(raw, "include_masks", True),
            include_label_map=_flag(raw, "include_label_map", False),
            include_scores=_flag(raw, "include_scores", False),
        )

    def preprocess(self, image: DecodedImage) -> Prepared:
        return stretched_input(image, self.cfg)

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        size = int(self.cfg.preprocess.input_size or 0)
        return size, size

    def split(self, outputs: Any, count: int) -> list[Any]:
        maps = outputs["out"] if isinstance(outputs, dict) else outputs
        return [maps[i] for i in range(count)]

    def check_output(self, outputs: Any) -> None:
        maps = outputs["out"] if isinstance(outputs, dict) else outputs
        channels = 1 if self.cfg.source.head == "mask_sigmoid" else len(self.labels)
        if self.cfg.source.head == "mask_sigmoid" and len(self.labels) != 2:
            raise ValueError("a mask_sigmoid head needs two labels: background and foreground")
        if not isinstance(maps, np.ndarray) or maps.ndim != 4 or maps.shape[1] != channels:
            shape = getattr(maps, "shape", type(maps).__name__)
            raise ValueError(f"model output {shape} is not (N, {channels}, h, w) for this head and labels")

    def _probabilities(self, output: np.ndarray) -> np.ndarray:
        if self.cfg.source.head == "mask_sigmoid":
            foreground = np.clip(output[0], 0.0, 1.0)
            return np.stack((1.0 - foreground, foreground))
        shifted = output - output.max(axis=0, keepdims=True)
        exp = np.exp(shifted)
        probabilities: np.ndarray = exp / exp.sum(axis=0, keepdims=True)
        return probabilities

    def input_label_map(self, output: np.ndarray) -> np.ndarray:
        """The label map at the model's own resolution (what the accuracy gate compares)."""
        return self._probabilities(output).argmax(axis=0)  # type: ignore[no-any-return]

    def postprocess(self, output: Any, item: Prepared, params: SemanticParams) -> SemanticSegmentation:
        probs = torch.from_numpy(self._probabilities(np.asarray(output, dtype=np.float32)))
        height, width = item.height, item.width
        classes_count = probs.shape[0]
        # Band by band: the full-size label map (a byte a pixel) is the only image-sized array;
        # a 40 Mpx image costs about 100 MB here, not a float map per class.
        label_map = np.empty((height, width), dtype=np.uint8 if classes_count <= 256 else np.uint16)
        counts = np.zeros(classes_count, dtype=np.int64)
        score_sums = np.zeros(classes_count, dtype=np.float64)
        for top, band in upsampled_bands(probs, height, width):
            scores, labels = torch.max(band, dim=0)  # the first class wins a tie
            best = scores.numpy().ravel()
            flat = labels.numpy().ravel()
            label_map[top : top + band.shape[1]] = labels.numpy()
            counts += np.bincount(flat, minlength=classes_count)
            score_sums += np.bincount(flat, weights=best, minlength=classes_count)
        wanted = params.classes if params.classes is not None else range(classes_count)
        classes = []
        for index in sorted(wanted, key=lambda i: -counts[i]):
            if counts[index] == 0:
                continue
            classes.append(
                SegmentClass(
                    index=int(index),
                    label=self.labels[index],
                    pixel_share=float(counts[index] / label_map.size),
                    score=float(np.clip(score_sums[index] / counts[index], 0.0, 1.0)),
                    mask=encode_rle(label_map == index) if params.include_masks else None,
                )
            )
        label_png = png_base64(label_map) if params.include_label_map else None
        score_pngs = None
        if params.include_scores:
            score_pngs = {}
            for entry in classes:
                score = np.empty((height, width), dtype=np.uint8)
                for top, band in upsampled_bands(probs[entry.index : entry.index + 1], height, width):
                    scaled = (band[0].clamp(0, 1) * 255).round().to(torch.uint8)
                    score[top : top + band.shape[1]] = scaled.numpy()
                score_pngs[entry.label] = png_base64(score)
        return SemanticSegmentation(
            image=ImageSize(width=width, height=height),
            classes=classes,
            label_map_png=label_png,
            score_maps_png=score_pngs,
        )
