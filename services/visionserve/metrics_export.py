"""Counters, histograms and gauges kept in the process and handed to Ray every few seconds.

Measured here, Ray's own histograms cost the serving path about 1 ms of CPU per request:
Ray's metrics agent (a Python process) replays every observation, one by one, from the bucket
counts each replica reports, and computes the ``_sum`` from bucket midpoints. So the request
path here only adds to numbers in memory; a flusher thread then sets, per label set, a Ray
gauge for each cumulative bucket (``<name>_bucket{le=...}``), the exact ``<name>_sum`` and
``<name>_count`` (series Prometheus reads as a histogram), and adds counters' increments to
Ray counters. Ray forgets a gauge a minute or two after it was last set, and the flusher sets
every gauge each time, so idle series stay.

The Ray metric objects are created where the metric is (inside the replica, so that Ray
labels them with its deployment, replica and application). The last few seconds before a replica
stops are not exported.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger("visionserve")

# Ray exports a replica's metrics every 10 s (metrics_report_interval_ms) and forgets a gauge
# not set for two of those: every 5 s keeps each series and costs the replica little.
FLUSH_S = 5.0

Key = tuple[str, ...]


def _ray_metric(kind: str, name: str, doc: str, tag_keys: tuple[str, ...]) -> Any:
    """A Ray Serve metric (labelled with the replica's deployment, replica and application)."""
    from ray.serve import metrics

    return getattr(metrics, kind)(name, description=doc, tag_keys=tag_keys)


class _Flusher:
    """The one thread per process that hands every metric's state to Ray."""

    _lock = threading.Lock()
    _metrics: list[Callable[[], None]] = []
    _thread: threading.Thread | None = None

    @classmethod
    def register(cls, flush: Callable[[], None]) -> None:
        with cls._lock:
            cls._metrics.append(flush)
            if cls._thread is None:
                cls._thread = threading.Thread(target=cls._run, name="metrics-flush", daemon=True)
                cls._thread.start()

    @classmethod
    def flush_all(cls) -> None:
        with cls._lock:
            flushes = list(cls._metrics)
        for flush in flushes:
            try:
                flush()
            except Exception:  # one metric's failure must not stop the others
                logger.exception("exporting a metric failed")

    @classmethod
    def _run(cls) -> None:
        while True:
            time.sleep(FLUSH_S)
            cls.flush_all()


class Counter:
    def __init__(self, name: str, doc: str, tag_keys: tuple[str, ...]) -> None:
        self._keys = tag_keys
        self._ray = _ray_metric("Counter", name, doc, tag_keys)
        self._lock = threading.Lock()
        self._pending: dict[Key, float] = {}
        _Flusher.register(self.flush)

    def inc(self, value: float, tags: dict[str, str]) -> None:
        key = tuple(tags[k] for k in self._keys)
        with self._lock:
            self._pending[key] = self._pending.get(key, 0.0) + value

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for key, value in pending.items():
            if value > 0:
                self._ray.inc(value, dict(zip(self._keys, key, strict=True)))


class Gauge:
    def __init__(self, name: str, doc: str, tag_keys: tuple[str, ...]) -> None:
        self._keys = tag_keys
        self._ray = _ray_metric("Gauge", name, doc, tag_keys)
        self._values: dict[Key, float] = {}
        _Flusher.register(self.flush)

    def set(self, value: float, tags: dict[str, str]) -> None:
        self._values[tuple(tags[k] for k in self._keys)] = value

    def flush(self) -> None:
        for key, value in list(self._values.items()):
            self._ray.set(value, dict(zip(self._keys, key, strict=True)))


def le_label(bound: float) -> str:
    """Prometheus's spelling of a bucket bound: "0.005", "1.0", "+Inf"."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class Histogram:
    def __init__(self, name: str, doc: str, buckets: Sequence[float], tag_keys: tuple[str, ...]) -> None:
        self._keys = tag_keys
        self._bounds = [float(b) for b in buckets]
        self._les = [le_label(b) for b in [*self._bounds, math.inf]]
        self._buckets = _ray_metric("Gauge", f"{name}_bucket", doc, (*tag_keys, "le"))
        self._sum = _ray_metric("Gauge", f"{name}_sum", f"{doc} (sum of the observations)", tag_keys)
        self._count = _ray_metric("Gauge", f"{name}_count", f"{doc} (number of observations)", tag_keys)
        self._lock = threading.Lock()
        # label values -> [count in each bucket (non-cumulative, the last one +Inf), sum]
        self._state: dict[Key, list[Any]] = {}
        _Flusher.register(self.flush)

    def observe(self, value: float, tags: dict[str, str]) -> None:
        key = tuple(tags[k] for k in self._keys)
        index = bisect.bisect_left(self._bounds, value)  # a bound is "less than or equal"
        with self._lock:
            state = self._state.get(key)
            if state is None:
                state = self._state[key] = [[0] * len(self._les), 0.0]
            state[0][index] += 1
            state[1] += value

    def flush(self) -> None:
        with self._lock:
            snapshot = [(key, list(counts), total) for key, (counts, total) in self._state.items()]
        for key, counts, total in snapshot:
            tags = dict(zip(self._keys, key, strict=True))
            cumulative = 0
            for le, count in zip(self._les, counts, strict=True):
                cumulative += count
                self._buckets.set(cumulative, {**tags, "le": le})
            self._sum.set(total, tags)
            self._count.set(cumulative, tags)
