"""visionserve.metrics_export: what reaches Ray after a flush, with Ray's metrics replaced."""

from __future__ import annotations

from typing import Any

import pytest

from visionserve import metrics_export


class _RayMetric:
    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name
        self.added: list[tuple[float, dict[str, str]]] = []
        self.current: dict[tuple[tuple[str, str], ...], float] = {}

    def inc(self, value: float, tags: dict[str, str]) -> None:
        self.added.append((value, tags))

    def set(self, value: float, tags: dict[str, str]) -> None:
        self.current[tuple(sorted(tags.items()))] = value


@pytest.fixture
def ray_metrics(monkeypatch: pytest.MonkeyPatch) -> dict[str, _RayMetric]:
    made: dict[str, _RayMetric] = {}

    def fake(kind: str, name: str, doc: str, tag_keys: tuple[str, ...]) -> Any:
        made[name] = _RayMetric(kind, name)
        return made[name]

    monkeypatch.setattr(metrics_export, "_ray_metric", fake)
    return made


def test_counter_increments_reach_ray_summed(ray_metrics: dict[str, _RayMetric]) -> None:
    counter = metrics_export.Counter("c", "doc", ("model", "code"))
    for _ in range(5):
        counter.inc(1, {"model": "m", "code": "200"})
    counter.inc(2, {"code": "503", "model": "m"})
    metrics_export._Flusher.flush_all()
    metrics_export._Flusher.flush_all()  # nothing new: nothing added
    totals: dict[str, float] = {}
    for value, tags in ray_metrics["c"].added:
        assert set(tags) == {"model", "code"}
        totals[tags["code"]] = totals.get(tags["code"], 0) + value
    assert totals == {"200": 5, "503": 2}


def test_histogram_is_cumulative_buckets_an_exact_sum_and_a_count(ray_metrics: dict[str, _RayMetric]) -> None:
    histogram = metrics_export.Histogram("h", "doc", [0.01, 0.1, 1.0], ("model",))
    for value in (0.005, 0.01, 0.05, 0.5, 7.0):
        histogram.observe(value, {"model": "m"})
    metrics_export._Flusher.flush_all()
    buckets = {dict(k)["le"]: v for k, v in ray_metrics["h_bucket"].current.items()}
    assert buckets == {"0.01": 2, "0.1": 3, "1.0": 4, "+Inf": 5}  # a bound is "at most"
    assert ray_metrics["h_sum"].current[(("model", "m"),)] == pytest.approx(7.565)
    assert ray_metrics["h_count"].current[(("model", "m"),)] == 5
    assert ray_metrics["h_bucket"].kind == "Gauge"  # set whole each second: Ray never forgets it


def test_gauges_are_set_again_at_every_flush(ray_metrics: dict[str, _RayMetric]) -> None:
    gauge = metrics_export.Gauge("g", "doc", ("model",))
    gauge.set(3, {"model": "m"})
    metrics_export._Flusher.flush_all()
    ray_metrics["g"].current.clear()  # as if Ray had dropped it
    metrics_export._Flusher.flush_all()
    assert ray_metrics["g"].current == {(("model", "m"),): 3}


def test_le_labels_are_prometheus_spelling() -> None:
    assert [metrics_export.le_label(b) for b in (0.005, 1, 4096, float("inf"))] == [
        "0.005",
        "1.0",
        "4096.0",
        "+Inf",
    ]
