"""The shipped Prometheus config, rules and Grafana dashboard, checked without a service.

(tests/e2e/test_observability.py runs them against a real Prometheus scraping the service.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from visionserve.config import MetricsConfig
from visionserve.metrics import (
    COUNT_BUCKETS,
    LATENCY_BUCKETS_S,
    ExplainerMetrics,
    IngressMetrics,
    endpoint_kind,
)

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "visionserve.json"


def _promtool(*args: str) -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: scripts/install-prometheus (scripts/dev test runs it)")
    done = subprocess.run([binary, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_rules_pass_promtool_check() -> None:
    assert "SUCCESS" in _promtool("check", "rules", str(PROMETHEUS_DIR / "rules" / "visionserve.yml"))


def test_prometheus_config_passes_promtool_check() -> None:
    assert "SUCCESS" in _promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))


def test_alert_rules_unit_tests_pass() -> None:
    assert "SUCCESS" in _promtool("test", "rules", str(PROMETHEUS_DIR / "tests" / "visionserve_test.yml"))


def test_every_alert_has_a_unit_test() -> None:
    import yaml

    rules = yaml.safe_load((PROMETHEUS_DIR / "rules" / "visionserve.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((PROMETHEUS_DIR / "tests" / "visionserve_test.yml").read_text())
    fired = {
        t["alertname"]
        for case in tests["tests"]
        for t in case.get("alert_rule_test", [])
        if t.get("exp_alerts")
    }
    assert alerts == fired


def test_dashboard_is_importable_as_is() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "visionserve"
    assert "id" not in dashboard  # Grafana assigns it on import
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            # Ray prefixes every metric; a name without it would never match.
            assert "ray_" in target["expr"] or target["expr"].startswith("visionserve:"), target["expr"]


def test_metric_names_hold_no_model_names_and_latency_buckets_resolve_milliseconds() -> None:
    assert LATENCY_BUCKETS_S[0] == 0.001
    assert sum(1 for b in LATENCY_BUCKETS_S if 0.001 <= b <= 0.5) >= 14
    assert list(COUNT_BUCKETS) == sorted(COUNT_BUCKETS)
    source = "".join(p.read_text() for p in (ROOT / "services" / "visionserve" / "metrics").glob("*.py"))
    names = [line.split('"')[1] for line in source.splitlines() if line.strip().startswith('"visionserve_')]
    assert len(names) >= 15
    assert all(n.replace("_", "").isalnum() and n.islower() for n in names)


def test_endpoint_kinds() -> None:
    assert endpoint_kind("/v1/classify") == "predict"
    assert endpoint_kind("/v2/models/{name}/infer") == "predict"
    assert endpoint_kind("/visionserve.v1.VisionServe/Detect") == "predict"
    assert endpoint_kind("/v1/explain") == "explain"
    assert endpoint_kind("/visionserve.v1.VisionServe/Explain") == "explain"
    assert endpoint_kind("/v1/explain/stream") == "explain"  # once counted as "other"
    assert endpoint_kind("/v1/audit/predictions/{record_id}/explain") == "explain"
    assert endpoint_kind("/v1/understand/deepdream") == "understand"
    assert endpoint_kind("/readyz") == "other"
    assert endpoint_kind("unmatched") == "other"


def test_metrics_off_records_nothing_and_needs_no_ray() -> None:
    off = MetricsConfig(enabled=False)
    ingress = IngressMetrics(off)
    with ingress.request("http", "/v1/classify") as record:
        record.status = 200
    ExplainerMetrics(off).explained("m", "gradcam", 0.1)


class _Recorded:
    """Stands in for a Ray metric: what was recorded, by label set."""

    def __init__(self) -> None:
        self.values: list[tuple[float, dict[str, str]]] = []

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        self.values.append((value, dict(tags or {})))

    observe = set = inc


def test_model_metrics_summarise_what_the_models_predict(monkeypatch: pytest.MonkeyPatch) -> None:
    from visionserve import metrics
    from visionserve.config import load_serve_file, parse_service_config
    from visionserve_client.types import (
        Classification,
        ClassScore,
        Detection,
        DetectionResult,
        ImageSize,
        SegmentClass,
        SemanticSegmentation,
    )

    made: dict[str, _Recorded] = {}

    def fake(on: bool, name: str, *args: object) -> _Recorded:
        made[name] = _Recorded()
        return made[name]

    for factory in ("counter", "histogram", "gauge"):
        monkeypatch.setattr(metrics.replicas, factory, fake)
    local = parse_service_config(load_serve_file(ROOT / "deploy" / "serve" / "local.yaml").args)
    model = local.models[0].model_copy(update={"name": "m"})
    recorder = metrics.ModelMetrics(MetricsConfig(prediction_classes=2), model)
    size = ImageSize(width=10, height=10)

    def top1(label: str, score: float) -> Classification:
        return Classification(image=size, classes=[ClassScore(index=0, label=label, score=score)])

    recorder.results([top1("cat", 0.9), top1("dog", 0.4), top1("cow", 0.7), top1("cat", 0.8)])
    classes = [tags["class"] for _, tags in made["visionserve_predictions"].values]
    assert classes == ["cat", "dog", "_other", "cat"]  # two classes per replica, then _other
    assert [v for v, _ in made["visionserve_top1_confidence"].values] == [0.9, 0.4, 0.7, 0.8]

    box = (0.0, 0.0, 1.0, 1.0)
    found = [Detection(box=box, label="cat", class_index=0, score=s) for s in (0.3, 0.6)]
    recorder.results(
        [DetectionResult(image=size, detections=found), DetectionResult(image=size, detections=[])]
    )
    assert [v for v, _ in made["visionserve_detections_per_image"].values] == [2, 0]
    assert made["visionserve_top1_confidence"].values[-1][0] == 0.6  # the best box; none for no box

    def segment(label: str, share: float) -> SegmentClass:
        return SegmentClass(index=0, label=label, pixel_share=share, score=0.9)

    recorder.results(
        [SemanticSegmentation(image=size, classes=[segment("background", 0.7), segment("cat", 0.3)])]
    )
    assert made["visionserve_mask_area_share"].values == [(0.3, {"model": "m"})]
    assert made["visionserve_mask_area"].values == [(0.3, {"model": "m"})]

    recorder.batch(3, [0.001, 0.002, 0.003])
    assert made["visionserve_batched_images"].values == [(3, {"model": "m"})]
    assert [tags["stage"] for _, tags in made["visionserve_stage_seconds"].values] == ["queue"] * 3
