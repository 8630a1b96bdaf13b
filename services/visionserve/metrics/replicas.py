"""A model replica's metrics (stages, batches, inputs, what it predicts, load) and the
explanation replica's (seconds per method)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from visionserve.config import MetricsConfig, ModelConfig
from visionserve.metrics.common import (
    COUNT_BUCKETS,
    DETECTION_BUCKETS,
    EXPLANATION_BUCKETS_S,
    OTHER_CLASS,
    PIXELS_BUCKETS,
    SHARE_BUCKETS,
    STAGE_BUCKETS_S,
    counter,
    gauge,
    histogram,
)
from visionserve_client.types import (
    Classification,
    DetectionResult,
    InstanceSegmentation,
    SemanticSegmentation,
    ZeroShotResult,
)

# Labels whose pixels are not "covered" in a segmentation's mask area share.
_BACKGROUND = frozenset({"background", "__background__", "_background_"})


class ModelMetrics:
    """One model replica's view: its stages, batches, inputs and what it predicts."""

    def __init__(self, cfg: MetricsConfig, model: ModelConfig) -> None:
        on = cfg.enabled
        self._tags = {"model": model.name}
        self._class_cap = cfg.prediction_classes
        self._classes_seen: set[str] = set()
        self._stage = histogram(
            on,
            "visionserve_stage_seconds",
            "Time in each stage: decode and preprocess (per image), queue (per image, until its "
            "batch starts), inference and postprocess (per batch).",
            STAGE_BUCKETS_S,
            ("model", "stage"),
        )
        self._batch = histogram(
            on, "visionserve_batch_size", "Images in each batch the model ran.", COUNT_BUCKETS, ("model",)
        )
        self._batched = counter(
            on,
            "visionserve_batched_images",
            "Images the model ran, over all batches (mean batch = this / visionserve_batch_size_count).",
            ("model",),
        )
        self._pixels = histogram(
            on,
            "visionserve_image_pixels",
            "Width x height of each decoded image.",
            PIXELS_BUCKETS,
            ("model",),
        )
        self._predictions = counter(
            on,
            "visionserve_predictions",
            "Predicted classes: the top-1 class of each image (classification, zero-shot), each "
            "detection's or instance's label, each class present in a segmentation.",
            ("model", "class"),
        )
        self._confidence = histogram(
            on,
            "visionserve_top1_confidence",
            "Score of the best class (classification, zero-shot) or the best detection of each image.",
            SHARE_BUCKETS,
            ("model",),
        )
        self._detections = histogram(
            on,
            "visionserve_detections_per_image",
            "Detections or instances found in each image.",
            DETECTION_BUCKETS,
            ("model",),
        )
        self._mask_area = counter(
            on,
            "visionserve_mask_area",
            "Sum of the mask area shares (mean = this / visionserve_mask_area_share_count).",
            ("model",),
        )
        self._mask_share = histogram(
            on,
            "visionserve_mask_area_share",
            "Share of each image's pixels covered by non-background classes (semantic segmentation).",
            SHARE_BUCKETS,
            ("model",),
        )
        self._load = gauge(
            on, "visionserve_model_load_seconds", "Time the replica took to load the model.", ("model",)
        )
        self._info = gauge(
            on,
            "visionserve_model_info",
            "1 for the model this replica serves, with its weights version and how it runs.",
            ("model", "version", "task", "backend", "precision", "device"),
        )
        self._max_replicas = gauge(
            on,
            "visionserve_autoscaling_max_replicas",
            "The most replicas autoscaling may start for this model (autoscaled models only).",
            ("model",),
        )
        autoscaling = model.deployment.autoscaling
        if autoscaling is not None:
            self._max_replicas.set(autoscaling.max_replicas, self._tags)

    def loaded(self, model: ModelConfig, version: str, seconds: float, served: tuple[str, str]) -> None:
        """``served``: the backend and precision that serve (auto's choice, not "auto")."""
        self._load.set(seconds, self._tags)
        info = {
            "version": version[:16],
            "task": model.task,
            "backend": served[0],
            "precision": served[1],
            "device": model.runtime.device,
        }
        self._info.set(1, {**self._tags, **info})

    def stage(self, stage: str, seconds: float) -> None:
        self._stage.observe(seconds, {**self._tags, "stage": stage})

    def prepared(self, decode_s: float, preprocess_s: float, pixels: int | None) -> None:
        self.stage("decode", decode_s)
        self.stage("preprocess", preprocess_s)
        if pixels:
            self._pixels.observe(pixels, self._tags)

    def batch(self, size: int, queue_waits_s: Sequence[float]) -> None:
        self._batch.observe(size, self._tags)
        self._batched.inc(size, self._tags)
        for wait in queue_waits_s:
            self.stage("queue", wait)

    def ran(self, inference_s: float, postprocess_s: float) -> None:
        self.stage("inference", inference_s)
        self.stage("postprocess", postprocess_s)

    def results(self, results: Sequence[BaseModel]) -> None:
        for result in results:
            self._result(result)

    def _result(self, result: BaseModel) -> None:
        if isinstance(result, Classification) and result.classes:
            self._predicted(result.classes[0].label)
            self._confidence.observe(result.classes[0].score, self._tags)
        elif isinstance(result, ZeroShotResult) and result.scores:
            self._predicted(result.scores[0].label)
            self._confidence.observe(result.scores[0].score, self._tags)
        elif isinstance(result, (DetectionResult, InstanceSegmentation)):
            found = result.detections if isinstance(result, DetectionResult) else result.instances
            self._detections.observe(len(found), self._tags)
            if found:
                self._confidence.observe(max(d.score for d in found), self._tags)
            for item in found:
                self._predicted(item.label)
        elif isinstance(result, SemanticSegmentation):
            share = 0.0
            for segment in result.classes:
                self._predicted(segment.label)
                if segment.label.lower() not in _BACKGROUND:
                    share += segment.pixel_share
            share = min(share, 1.0)
            self._mask_share.observe(share, self._tags)
            if share > 0:  # counters take positive increments only
                self._mask_area.inc(share, self._tags)

    def _predicted(self, label: str) -> None:
        if label not in self._classes_seen:
            if len(self._classes_seen) >= self._class_cap:
                label = OTHER_CLASS
            else:
                self._classes_seen.add(label)
        self._predictions.inc(1, {**self._tags, "class": label})


class ExplainerMetrics:
    def __init__(self, cfg: MetricsConfig) -> None:
        self._seconds = histogram(
            cfg.enabled,
            "visionserve_explanation_seconds",
            "Time to compute one explanation map, by model and method (fidelity scores included).",
            EXPLANATION_BUCKETS_S,
            ("model", "method"),
        )

    def explained(self, model: str, method: str, seconds: float) -> None:
        self._seconds.observe(seconds, {"model": model, "method": method})
