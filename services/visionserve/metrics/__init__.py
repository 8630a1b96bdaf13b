"""Every metric VisionServe exports, declared in this one package.

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

The declarations are split by where they are recorded: ``ingress`` (requests), ``replicas``
(model and explanation replicas); ``common`` holds buckets and label values.
"""

from __future__ import annotations

from visionserve.ingress.routes import endpoint_kind
from visionserve.metrics.common import (
    BYTES_BUCKETS,
    COUNT_BUCKETS,
    DETECTION_BUCKETS,
    EXPLANATION_BUCKETS_S,
    LATENCY_BUCKETS_S,
    NO_MODEL,
    OTHER_CLASS,
    PIXELS_BUCKETS,
    REJECTION_CODES,
    SHARE_BUCKETS,
    STAGE_BUCKETS_S,
    UNMATCHED,
)
from visionserve.metrics.ingress import IngressMetrics, RequestRecord, note_error, note_images, note_model
from visionserve.metrics.replicas import ExplainerMetrics, ModelMetrics

__all__ = [
    "BYTES_BUCKETS",
    "COUNT_BUCKETS",
    "DETECTION_BUCKETS",
    "EXPLANATION_BUCKETS_S",
    "LATENCY_BUCKETS_S",
    "NO_MODEL",
    "OTHER_CLASS",
    "PIXELS_BUCKETS",
    "REJECTION_CODES",
    "SHARE_BUCKETS",
    "STAGE_BUCKETS_S",
    "UNMATCHED",
    "ExplainerMetrics",
    "IngressMetrics",
    "ModelMetrics",
    "RequestRecord",
    "endpoint_kind",
    "note_error",
    "note_images",
    "note_model",
]
