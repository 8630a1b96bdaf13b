"""The ingress replica's metrics: requests by protocol, kind, endpoint, model and code; their
latency, images and bytes; refusals for load; requests in flight."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from visionserve.config import MetricsConfig
from visionserve.ingress.routes import endpoint_kind
from visionserve.metrics.common import (
    BYTES_BUCKETS,
    COUNT_BUCKETS,
    LATENCY_BUCKETS_S,
    NO_MODEL,
    REJECTION_CODES,
    counter,
    gauge,
    histogram,
)


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
        self._requests = counter(
            on,
            "visionserve_requests",
            "Requests answered, by protocol, endpoint, model and status code (gRPC: the HTTP code "
            "of the error).",
            ("protocol", "kind", "endpoint", "model", "code"),
        )
        self._latency = histogram(
            on,
            "visionserve_request_latency_seconds",
            "Time from request received to response ready, in the ingress replica.",
            LATENCY_BUCKETS_S,
            ("protocol", "kind", "endpoint", "model"),
        )
        self._images_total = counter(
            on,
            "visionserve_images",
            "Images received in requests, by endpoint and model.",
            ("endpoint", "model"),
        )
        self._images = histogram(
            on,
            "visionserve_images_per_request",
            "Images in each request that carried images.",
            COUNT_BUCKETS,
            ("endpoint", "model"),
        )
        self._bytes = histogram(
            on, "visionserve_image_bytes", "Size of each image as sent, in bytes.", BYTES_BUCKETS, ("model",)
        )
        self._in_flight = gauge(
            on,
            "visionserve_requests_in_flight",
            "Requests being served by this ingress replica.",
            ("protocol",),
        )
        self._rejected = counter(
            on,
            "visionserve_rejected_requests",
            "Requests refused for load (back-pressure), by reason.",
            ("endpoint", "model", "reason"),
        )
        self._audit_records = counter(
            on,
            "visionserve_audit_records",
            "Audit records written, or dropped (fail-open) by reason: buffer_full, store_error.",
            ("outcome", "reason"),
        )
        self._audit_deleted = counter(
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
