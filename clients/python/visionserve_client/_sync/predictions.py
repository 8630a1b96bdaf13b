# generated from visionserve_client/_async/predictions.py by scripts/make_sync.py: do not edit
"""Predictions: classes, objects, segments, embeddings and zero-shot scores of images."""

from __future__ import annotations

from collections.abc import Sequence

from visionserve_client import _calls as calls
from visionserve_client._calls import Images
from visionserve_client.types import (
    ClassifyResponse,
    DetectResponse,
    EmbeddingDType,
    EmbedImageResponse,
    EmbedTextResponse,
    SegmentResponse,
    ZeroShotResponse,
)

from ._base import ClientBase


class Predictions(ClientBase):
    def classify(
        self,
        images: Images,
        *,
        model: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ClassifyResponse:
        """Top-k classes for each image, in input order."""
        return self._send(calls.classify(images, model, top_k), timeout)

    def detect(
        self,
        images: Images,
        *,
        model: str | None = None,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_detections: int | None = None,
        timeout: float | None = None,
    ) -> DetectResponse:
        """Detected objects for each image, in input order; boxes in original pixels."""
        return self._send(
            calls.detect(images, model, score_threshold, iou_threshold, max_detections),
            timeout,
        )

    def segment(
        self,
        images: Images,
        *,
        model: str | None = None,
        classes: Sequence[str] | None = None,
        include_masks: bool | None = None,
        include_label_map: bool | None = None,
        include_scores: bool | None = None,
        score_threshold: float | None = None,
        mask_threshold: float | None = None,
        max_detections: int | None = None,
        timeout: float | None = None,
    ) -> SegmentResponse:
        """Semantic classes or object instances with RLE masks for each image, in input order."""
        return self._send(
            calls.segment(
                images,
                model,
                classes=classes,
                include_masks=include_masks,
                include_label_map=include_label_map,
                include_scores=include_scores,
                score_threshold=score_threshold,
                mask_threshold=mask_threshold,
                max_detections=max_detections,
            ),
            timeout,
        )

    def embed_image(
        self,
        images: Images,
        *,
        model: str | None = None,
        dtype: EmbeddingDType | None = None,
        timeout: float | None = None,
    ) -> EmbedImageResponse:
        """L2-normalised image embeddings (CLIP models), in input order."""
        return self._send(calls.embed_image(images, model, dtype), timeout)

    def embed_text(
        self,
        texts: Sequence[str],
        *,
        model: str | None = None,
        dtype: EmbeddingDType | None = None,
        timeout: float | None = None,
    ) -> EmbedTextResponse:
        """L2-normalised text embeddings (CLIP models), in input order."""
        return self._send(calls.embed_text(texts, model, dtype), timeout)

    def zero_shot(
        self,
        images: Images,
        *,
        labels: Sequence[str] | None = None,
        label_set: str | None = None,
        templates: Sequence[str] | None = None,
        model: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ZeroShotResponse:
        """Scores of each image against ``labels`` (or a configured ``label_set``)."""
        return self._send(
            calls.zero_shot(
                images, model, labels=labels, label_set=label_set, templates=templates, top_k=top_k
            ),
            timeout,
        )
