"""CLIP-style image-text models: image and text embeddings, zero-shot labels.

Embeddings are L2-normalised. Zero-shot scores an image against labels through prompts
("a photo of a {}."): a label's text embedding is the normalised mean of its prompts'
embeddings (CLIP's prompt ensembling), and its score is
``softmax(logit_scale * cosine)`` over the labels, or for models with a logit bias (SigLIP)
an independent ``sigmoid(logit_scale * cosine + logit_bias)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from visionserve.errors import Unprocessable
from visionserve.imaging import DecodedImage
from visionserve.tasks.base import (
    Prepared,
    Task,
    center_crop_geometry,
    center_crop_input,
    center_crop_size,
    center_crop_to_original,
)
from visionserve_client.types import ImageEmbedding, ImageSize, InputGeometry, LabelScore, ZeroShotResult

MAX_LABELS = 1000
MAX_TEMPLATES = 64


@dataclass(frozen=True)
class ClipParams:
    mode: Literal["embed", "zero_shot"]
    dtype: Literal["float32", "float16"] = "float32"
    labels: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    top_k: int = 1
    label_matrix: np.ndarray | None = None
    """(labels, dim) text embeddings, filled in before the images run."""


def as_wire(vector: np.ndarray, dtype: str) -> list[float]:
    values = vector.astype(np.float16) if dtype == "float16" else vector.astype(np.float32)
    return [float(v) for v in values]


class ClipTask(Task[ClipParams, Any]):
    """Image side of a CLIP model; the engine runs its text side."""

    name = "clip"

    def __init__(self, cfg: Any, labels: list[str]) -> None:
        super().__init__(cfg, labels)
        self.label_sets: dict[str, list[str]] = {}
        self.logit_scale = 1.0
        self.logit_bias: float | None = None
        self.dim = 0

    @property
    def scoring(self) -> Literal["softmax", "sigmoid"]:
        return "softmax" if self.logit_bias is None else "sigmoid"

    def _labels(self, raw: dict[str, Any]) -> list[str]:
        labels, label_set = raw.get("labels"), raw.get("label_set")
        if (labels is None) == (label_set is None):
            raise Unprocessable("give either labels or label_set")
        if label_set is not None:
            if label_set not in self.label_sets:
                known = ", ".join(sorted(self.label_sets)) or "none"
                raise Unprocessable(f"unknown label set {label_set!r}; this model has: {known}")
            return self.label_sets[label_set]
        if not labels:
            raise Unprocessable("labels must name at least one label")
        if len(labels) > MAX_LABELS:
            raise Unprocessable(f"{len(labels)} labels, over the limit of {MAX_LABELS}")
        blank = [i for i, label in enumerate(labels) if not label.strip()]
        if blank:
            raise Unprocessable(f"label {blank[0]} is empty")
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise Unprocessable(f"repeated labels: {', '.join(map(repr, repeated[:5]))}")
        return list(labels)

    def _templates(self, raw: dict[str, Any]) -> tuple[str, ...]:
        templates = raw.get("templates")
        if templates is None:
            return self.cfg.defaults.templates
        if not templates or len(templates) > MAX_TEMPLATES:
            raise Unprocessable(f"templates must hold 1 to {MAX_TEMPLATES} prompts")
        for template in templates:
            if template.count("{}") != 1:
                raise Unprocessable(f"template {template!r} must contain '{{}}' once, where the label goes")
        return tuple(templates)

    def parse_params(self, raw: dict[str, Any]) -> ClipParams:
        dtype: Literal["float32", "float16"] = raw.get("dtype") or "float32"
        if raw.get("mode") != "zero_shot":
            return ClipParams(mode="embed", dtype=dtype)
        labels = self._labels(raw)
        top_k = raw.get("top_k")
        if top_k is None:
            top_k = min(self.cfg.defaults.top_k, len(labels))
        if not 1 <= top_k <= len(labels):
            raise Unprocessable(
                f"top_k must be between 1 and {len(labels)} (the number of labels), got {top_k}"
            )
        return ClipParams(mode="zero_shot", labels=tuple(labels), templates=self._templates(raw), top_k=top_k)

    def texts_needed(self, params: ClipParams) -> list[str]:
        return [template.replace("{}", label) for label in params.labels for template in params.templates]

    def with_text_embeddings(self, params: ClipParams, embeddings: np.ndarray) -> ClipParams:
        per_label = embeddings.reshape(len(params.labels), len(params.templates), -1).mean(axis=1)
        per_label /= np.linalg.norm(per_label, axis=1, keepdims=True).clip(min=1e-12)
        return replace(params, label_matrix=per_label)

    def response_fields(self, params: ClipParams) -> dict[str, Any]:
        if params.mode == "embed":
            return {"dtype": params.dtype, "dim": self.dim}
        return {"scoring": self.scoring, "logit_scale": self.logit_scale, "logit_bias": self.logit_bias}

    def preprocess(self, image: DecodedImage) -> Prepared:
        return center_crop_input(image, self.cfg)

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        return center_crop_size(width, height, self.cfg)

    def map_to_original(self, values: np.ndarray, item: Prepared) -> np.ndarray:
        return center_crop_to_original(values, item, self.cfg)

    def geometry(self, item: Prepared, input_width: int, input_height: int) -> InputGeometry:
        return center_crop_geometry(item, self.cfg, input_width, input_height)

    def check_output(self, outputs: Any) -> None:
        if not isinstance(outputs, np.ndarray) or outputs.ndim != 2:
            raise ValueError(f"expected (N, dim) image embeddings, got {getattr(outputs, 'shape', outputs)}")
        self.dim = int(outputs.shape[1])

    def postprocess(self, output: Any, item: Prepared, params: ClipParams) -> ImageEmbedding | ZeroShotResult:
        size = ImageSize(width=item.width, height=item.height)
        if params.mode == "embed":
            return ImageEmbedding(image=size, embedding=as_wire(output, params.dtype))
        assert params.label_matrix is not None  # filled in by with_text_embeddings
        similarity = params.label_matrix @ output.astype(np.float64)
        logits = self.logit_scale * similarity
        if self.logit_bias is None:
            exp = np.exp(logits - logits.max())
            scores = exp / exp.sum()
        else:
            scores = 1.0 / (1.0 + np.exp(-(logits + self.logit_bias)))
        best = np.argsort(-scores, kind="stable")[: params.top_k]
        return ZeroShotResult(
            image=size,
            scores=[
                LabelScore(
                    label=params.labels[i],
                    score=float(np.clip(scores[i], 0.0, 1.0)),
                    similarity=float(np.clip(similarity[i], -1.0, 1.0)),
                )
                for i in best
            ],
        )
