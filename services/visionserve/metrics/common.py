"""What the metric modules share: buckets, bounded label values, and metric constructors that
make a no-op when metrics are off."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from visionserve import metrics_export

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

UNMATCHED = "unmatched"
"""The endpoint label of a request that no route took (unknown paths, refused bodies)."""


class Metric(Protocol):
    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None: ...
    def observe(self, value: float, tags: dict[str, str] | None = None) -> None: ...
    def set(self, value: float, tags: dict[str, str] | None = None) -> None: ...


class Off:
    """What every metric is when metrics are off."""

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        pass

    def observe(self, value: float, tags: dict[str, str] | None = None) -> None:
        pass

    def set(self, value: float, tags: dict[str, str] | None = None) -> None:
        pass


def counter(on: bool, name: str, doc: str, tags: tuple[str, ...]) -> Metric:
    return metrics_export.Counter(name, doc, tags) if on else Off()  # type: ignore[return-value]


def histogram(on: bool, name: str, doc: str, buckets: Sequence[float], tags: tuple[str, ...]) -> Metric:
    return metrics_export.Histogram(name, doc, buckets, tags) if on else Off()  # type: ignore[return-value]


def gauge(on: bool, name: str, doc: str, tags: tuple[str, ...]) -> Metric:
    return metrics_export.Gauge(name, doc, tags) if on else Off()  # type: ignore[return-value]
