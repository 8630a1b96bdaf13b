"""Every metric VisionServe exports, declared in this one module.

Replicas export through Ray (``ray.serve.metrics``, by way of visionserve.metrics_export,
which keeps the request path to an addition in memory): a plain prometheus_client metric
inside a replica is never scraped. Ray prefixes each name with ``ray_``, adds ``_total`` to
counters, labels every series with the ``deployment``, ``replica`` and ``application`` it came
from, and serves them all on its metrics port (``visionserve serve --metrics-port``, default
8080). Histograms are the usual ``_bucket{le}``, ``_sum`` and ``_count`` series, sums exact.

Labels are bounded: configured model names (``none`` when a request named no known model),
route templates, stages, methods, status codes, and at most ``metrics.prediction_classes``
class labels per model replica (the rest count as ``_other``). Metric objects are created
inside the replica that records them (Ray reads the replica's context then), and are no-ops
when ``metrics.enabled`` is false.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from visionserve import metrics_export
from visionserve.config import MetricsConfig, ModelConfig
from visionserve.ingress.routes import endpoint_kind
from visionserve_client.types import (
    Classification,
    DetectionResult,
    InstanceSegmentation,
    SemanticSegmentation,
    ZeroShotResult,
)

# 1 ms to 30 s: fine steps where CPU and GPU vision requests fall (1-500 ms).
LATENCY_BUCKETS_S = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075,
    0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0,
)  # fmt: skip
# A stage of one image or batch can take well under a millisecond.
STAGE_BUCKETS_S = (0.0001, 0.00025, 0.0005, *LATENCY_BUCKETS_S)
EXPLANATION_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
COUNT_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024)
DETECTION_BUCKETS = (0.5, 1.5, 2.5, 3.5, 5.5, 10.5, 20.5, 50.5, 100.5, 300.5)  # n.5: "at most n"
BYTES_BUCKETS = tuple(float(2**k) for k in range(12, 27))  # 4 KiB .. 64 MiB
PIXELS_BUCKETS = (1e4, 5e4, 1e5, 3e5, 1e6, 2e6, 4e6, 8e6, 1.6e7, 4e7)
SHARE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)

NO_MODEL = "none"
OTHER_CLASS = "_other"
# Error codes that mean "refused for load", as opposed to a bad request.
REJECTION_CODES = frozenset({"overloaded"})
_BACKGROUND = frozenset({"background", "__background__", "_background_"})

UNMATCHED = "unmatched"
"""The endpoint label of a request that no route took (unknown paths, refused bodies)."""


class _Metric(Protocol):
    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None: ...
    def observe(self, value: float, tags: dict[str, str] | None = None) -> None: ...
    def set(self, value: float, tags: dict[str, str] | None = None) -> None: ...


class _Off:
    """What every metric is when metrics are off."""

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        pass

    def observe(self, value: float, tags: dict[str, str] | None = None) -> None:
        pass

    def set(self, value: float, tags: dict[str, str] | None = None) -> None:
        pass


def _counter(on: bool, name: str, doc: str, tags: tuple[str, ...]) -> _Metric:
    return metrics_export.Counter(name, doc, tags) if on else _Off()  # type: ignore[return-value]


def _histogram(on: bool, name: str, doc: str, buckets: Sequence[float], tags: tuple[str, ...]) -> _Metric:
    return metrics_export.Histogram(name, doc, buckets, tags) if on else _Off()  # type: ignore[return-value]


def _gauge(on: bool, name: str, doc: str, tags: tuple[str, ...]) -> _Metric:
    return metrics_export.Gauge(name, doc, tags) if on else _Off()  # type: ignore[return-value]


# ------------------------------------------------------------------------------------ ingress


@dataclass
class RequestRecord:
    """What the ingress learns about one request while serving it."""

    protocol: str
    endpoint: str
    model: str = NO_MODEL
    images: int = 0
    image_bytes: tuple[int, ...] = ()
    error_code: str | None = None
    status: int = 500
    """The status code answered (gRPC: the HTTP code of its error); 500 until set."""


_current_request: ContextVar[RequestRecord | None] = ContextVar("visionserve_request", default=None)


def note_model(name: str) -> None:
    """The configured model (or pipeline) serving the current request."""
    record = _current_request.get()
    if record is not None:
        record.model = name


def note_images(images: Sequence[Any]) -> None:
    """The current request's images (encoded bytes, or decoded arrays)."""
    record = _current_request.get()
    if record is not None:
        record.images = len(images)
        record.image_bytes = tuple(len(i) if isinstance(i, (bytes, bytearray)) else i.nbytes for i in images)


def note_error(code: str) -> None:
    """The error code the current request is answered with."""
    record = _current_request.get()
    if record is not None:
        record.error_code = code


class IngressMetrics:
    def __init__(self, cfg: MetricsConfig) -> None:
        on = cfg.enabled
        self._requests = _counter(
            on,
            "visionserve_requests",
            "Requests answered, by protocol, endpoint, model and status code (gRPC: the HTTP code "
            "of the error).",
            ("protocol", "kind", "endpoint", "model", "code"),
        )
        self._latency = _histogram(
            on,
            "visionserve_request_latency_seconds",
            "Time from request received to response ready, in the ingress replica.",
            LATENCY_BUCKETS_S,
            ("protocol", "kind", "endpoint", "model"),
        )
        self._images_total = _counter(
            on,
            "visionserve_images",
            "Images received in requests, by endpoint and model.",
            ("endpoint", "model"),
        )
        self._images = _histogram(
            on,
            "visionserve_images_per_request",
            "Images in each request that carried images.",
            COUNT_BUCKETS,
            ("endpoint", "model"),
        )
        self._bytes = _histogram(
            on, "visionserve_image_bytes", "Size of each image as sent, in bytes.", BYTES_BUCKETS, ("model",)
        )
        self._in_flight = _gauge(
            on,
            "visionserve_requests_in_flight",
            "Requests being served by this ingress replica.",
            ("protocol",),
        )
        self._rejected = _counter(
            on,
            "visionserve_rejected_requests",
            "Requests refused for load (back-pressure), by reason.",
            ("endpoint", "model", "reason"),
        )
        self._audit_records = _counter(
            on,
            "visionserve_audit_records",
            "Audit records written, or dropped (fail-open) by reason: buffer_full, store_error.",
            ("outcome", "reason"),
        )
        self._audit_deleted = _counter(
            on,
            "visionserve_audit_retention_deleted",
            "Audit records and kept images deleted for being older than the retention period.",
            ("kind",),
        )
        self._on = on
        self._in_flight_counts: Tally[str] = Tally()

    def audited(self, event: str, count: int) -> None:
        """The audit writer's counts: written, dropped_<reason>, deleted_<records|images>."""
        if event == "written":
            self._audit_records.inc(count, {"outcome": "written", "reason": "none"})
        elif event.startswith("dropped_"):
            self._audit_records.inc(count, {"outcome": "dropped", "reason": event.removeprefix("dropped_")})
        elif event.startswith("deleted_"):
            self._audit_deleted.inc(count, {"kind": event.removeprefix("deleted_")})

    @contextmanager
    def request(self, protocol: str, endpoint: str) -> Iterator[RequestRecord]:
        """Measure one request; the caller sets ``record.status`` (and ``endpoint`` once routed)."""
        record = RequestRecord(protocol=protocol, endpoint=endpoint)
        token = _current_request.set(record)
        self._in_flight_counts[protocol] += 1
        self._in_flight.set(self._in_flight_counts[protocol], {"protocol": protocol})
        started = time.perf_counter()
        try:
            yield record
        finally:
            _current_request.reset(token)
            self._in_flight_counts[protocol] -= 1
            self._in_flight.set(self._in_flight_counts[protocol], {"protocol": protocol})
            if self._on:
                self._finish(record, time.perf_counter() - started)

    def _finish(self, record: RequestRecord, seconds: float) -> None:
        where = {"endpoint": record.endpoint, "model": record.model}
        call = {"protocol": record.protocol, "kind": endpoint_kind(record.endpoint), **where}
        self._requests.inc(1, {**call, "code": str(record.status)})
        self._latency.observe(seconds, call)
        if record.images:
            self._images_total.inc(record.images, where)
            self._images.observe(record.images, where)
            for size in record.image_bytes:
                self._bytes.observe(size, {"model": record.model})
        if record.error_code in REJECTION_CODES:
            self._rejected.inc(1, {**where, "reason": record.error_code})


# -------------------------------------------------------------------------------- model replica


class ModelMetrics:
    """One model replica's view: its stages, batches, inputs and what it predicts."""

    def __init__(self, cfg: MetricsConfig, model: ModelConfig) -> None:
        on = cfg.enabled
        self._tags = {"model": model.name}
        self._class_cap = cfg.prediction_classes
        self._classes_seen: set[str] = set()
        self._stage = _histogram(
            on,
            "visionserve_stage_seconds",
            "Time in each stage: decode and preprocess (per image), queue (per image, until its "
            "batch starts), inference and postprocess (per batch).",
            STAGE_BUCKETS_S,
            ("model", "stage"),
        )
        self._batch = _histogram(
            on, "visionserve_batch_size", "Images in each batch the model ran.", COUNT_BUCKETS, ("model",)
        )
        self._batched = _counter(
            on,
            "visionserve_batched_images",
            "Images the model ran, over all batches (mean batch = this / visionserve_batch_size_count).",
            ("model",),
        )
        self._pixels = _histogram(
            on,
            "visionserve_image_pixels",
            "Width x height of each decoded image.",
            PIXELS_BUCKETS,
            ("model",),
        )
        self._predictions = _counter(
            on,
            "visionserve_predictions",
            "Predicted classes: the top-1 class of each image (classification, zero-shot), each "
            "detection's or instance's label, each class present in a segmentation.",
            ("model", "class"),
        )
        self._confidence = _histogram(
            on,
            "visionserve_top1_confidence",
            "Score of the best class (classification, zero-shot) or the best detection of each image.",
            SHARE_BUCKETS,
            ("model",),
        )
        self._detections = _histogram(
            on,
            "visionserve_detections_per_image",
            "Detections or instances found in each image.",
            DETECTION_BUCKETS,
            ("model",),
        )
        self._mask_area = _counter(
            on,
            "visionserve_mask_area",
            "Sum of the mask area shares (mean = this / visionserve_mask_area_share_count).",
            ("model",),
        )
        self._mask_share = _histogram(
            on,
            "visionserve_mask_area_share",
            "Share of each image's pixels covered by non-background classes (semantic segmentation).",
            SHARE_BUCKETS,
            ("model",),
        )
        self._load = _gauge(
            on, "visionserve_model_load_seconds", "Time the replica took to load the model.", ("model",)
        )
        self._info = _gauge(
            on,
            "visionserve_model_info",
            "1 for the model this replica serves, with its weights version and how it runs.",
            ("model", "version", "task", "backend", "device"),
        )
        self._max_replicas = _gauge(
            on,
            "visionserve_autoscaling_max_replicas",
            "The most replicas autoscaling may start for this model (autoscaled models only).",
            ("model",),
        )
        autoscaling = model.deployment.autoscaling
        if autoscaling is not None:
            self._max_replicas.set(autoscaling.max_replicas, self._tags)

    def loaded(self, model: ModelConfig, version: str, seconds: float) -> None:
        self._load.set(seconds, self._tags)
        runtime = model.runtime
        info = {
            "version": version[:16],
            "task": model.task,
            "backend": runtime.backend,
            "device": runtime.device,
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


# ------------------------------------------------------------------------------------ explainer


class ExplainerMetrics:
    def __init__(self, cfg: MetricsConfig) -> None:
        self._seconds = _histogram(
            cfg.enabled,
            "visionserve_explanation_seconds",
            "Time to compute one explanation map, by model and method (fidelity scores included).",
            EXPLANATION_BUCKETS_S,
            ("model", "method"),
        )

    def explained(self, model: str, method: str, seconds: float) -> None:
        self._seconds.observe(seconds, {"model": model, "method": method})
