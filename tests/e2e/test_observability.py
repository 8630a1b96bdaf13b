"""A real Prometheus scraping a real VisionServe: counts exact, every dashboard and rule query answered.

The traffic goes to an application of its own ("observed") on the session's Serve, so that
its counts are exactly what this module sent: a classifier that refuses load early
(``max_queued_requests: 1``), an autoscaled detector, the segmenter and the explainer.
Prometheus loads the shipped config and rules, scraping every 3 s and evaluating every second.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml

from tests.conftest import free_port
from tests.helpers import image_bytes
from visionserve.config import AutoscalingConfig, ServiceConfig
from visionserve.local import LocalService
from visionserve.settings import Settings
from visionserve.v1 import visionserve_pb2 as pb
from visionserve.v1.visionserve_pb2_grpc import VisionServeStub

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "visionserve.json"
APP = "observed"
_GRPC = "/visionserve.v1.VisionServe/"
CLASSIFIER, DETECTOR, SEGMENTER = "efficientnet-lite0", "yolox-nano", "selfie-segmentation"


def _observed_config(local: ServiceConfig, audit_file: Path) -> ServiceConfig:
    def with_deployment(name: str, **changes: Any) -> Any:
        model = local.model(name)
        assert model is not None
        return model.model_copy(update={"deployment": model.deployment.model_copy(update=changes)})

    # No CPUs reserved: the session's default application holds this machine's logical CPUs.
    return local.model_copy(
        update={
            "ingress": local.ingress.model_copy(update={"num_cpus": 0}),
            "explainer": local.explainer.model_copy(update={"num_cpus": 0}),
            "models": [
                # A replica of its own, with room for one request: Serve's back-pressure is measured.
                with_deployment(
                    CLASSIFIER, placement="replica", num_cpus=0, max_ongoing_requests=1, max_queued_requests=1
                ),
                with_deployment(
                    DETECTOR,
                    num_cpus=0,
                    num_replicas=None,
                    autoscaling=AutoscalingConfig(min_replicas=1, max_replicas=1),
                ),
                with_deployment(SEGMENTER, num_cpus=0),
            ],
            "pipelines": [],
            "audit": local.audit.model_copy(update={"sqlite_path": str(audit_file)}),
        }
    )


@pytest.fixture(scope="module")
def observed(
    local_config: ServiceConfig, local_service: LocalService, settings: Settings
) -> Iterator[tuple[str, str]]:
    """(base URL, gRPC host:port) of the observed application."""
    from ray import serve

    from visionserve.local import deploy_app, direct_port

    audit_file = Path(tempfile.mkdtemp(prefix="vs-observed-")) / "audit.sqlite3"
    config = _observed_config(local_config, audit_file)
    port = deploy_app(config, name=APP, route_prefix=f"/{APP}", settings=settings)
    # Its audit store refuses every record (fail-open): the drop counter and its alert have data.
    with sqlite3.connect(audit_file) as store:
        store.execute(
            "CREATE TRIGGER no_writes BEFORE INSERT ON predictions "
            "BEGIN SELECT RAISE(ABORT, 'read-only'); END"
        )
    grpc_port = direct_port(APP, protocol="gRPC")
    assert port is not None, "direct ingress serves each application on a port of its own"
    assert grpc_port is not None
    try:
        yield f"http://{local_service.host}:{port}/{APP}", f"{local_service.host}:{grpc_port}"
    finally:
        serve.delete(APP)  # its replicas' memory back for the rest of the session


@pytest.fixture(scope="module")
def prometheus(local_service: LocalService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: scripts/install-prometheus (scripts/dev test runs it)")
    assert local_service.metrics_port is not None
    folder = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    # Ray's metrics endpoint can take over a second to answer on a busy 2-core machine, and a
    # scrape that times out marks every series stale at once: a timeout with room to spare.
    config["global"].update(scrape_interval="3s", scrape_timeout="3s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / f) for f in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{local_service.metrics_port}"]}]
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (folder / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prometheus did not start: {(folder / 'prometheus.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", f"{expr}: {answer}"
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _finite(sample: dict[str, Any]) -> bool:
    return math.isfinite(float(sample["value"][1]))


def _send_traffic(observed: str, grpc_target: str) -> tuple[Counter[tuple[str, str, str]], dict[str, int]]:
    """Requests of every kind; returns (endpoint, model, code) -> count, and images received per model."""
    sent: Counter[tuple[str, str, str]] = Counter()
    images: Counter[str] = Counter()
    cat, street, person = (
        image_bytes("chelsea.png"),
        image_bytes("dog_bike_car.jpg"),
        image_bytes("grace_hopper.jpg"),
    )

    def post(endpoint: str, model: str, files: Any = None, **kwargs: Any) -> int:
        response = httpx.post(f"{observed}{endpoint}", files=files, timeout=60, **kwargs)
        if response.status_code >= 400:  # every refusal is the API's JSON error, overload included
            code = response.json()["error"]["code"]
            if response.status_code == 503:
                assert code == "overloaded", response.text
                assert response.headers["retry-after"]
                if "in flight" in response.json()["error"]["message"]:
                    # Refused at the ingress's door: its body, and so its model, never read.
                    model = "none"
        sent[(endpoint, model, str(response.status_code))] += 1
        return response.status_code

    for count in (1, 2, 1, 3, 1):
        status = post("/v1/classify", CLASSIFIER, [("images", ("cat.png", cat))] * count)
        assert status == 200
        images[CLASSIFIER] += count
    for _ in range(3):
        assert post("/v1/detect", DETECTOR, {"images": ("street.jpg", street)}) == 200
        images[DETECTOR] += 1
    for _ in range(2):
        assert post("/v1/segment", SEGMENTER, {"images": ("person.jpg", person)}) == 200
        images[SEGMENTER] += 1
    for method in ("gradcam", "saliency"):
        assert post("/v1/explain", CLASSIFIER, {"images": ("cat.png", cat)}, data={"methods": method}) == 200
        images[CLASSIFIER] += 1
    # Callers' mistakes: each answered with its 4xx, none reaching a model.
    assert post("/v1/classify", "none", {"images": ("junk.png", b"not an image at all")}) == 400
    assert post("/v1/classify", "none", {"images": ("cat.png", cat)}, data={"model": "no-such-model"}) == 404
    assert post("/v1/classify", DETECTOR, {"images": ("cat.png", cat)}, data={"model": DETECTOR}) == 422
    assert post("/v1/detect", "none", content=b"plain text", headers={"content-type": "text/plain"}) == 415
    # The schema refuses an unknown method before the model is looked up.
    assert post("/v1/explain", "none", {"images": ("cat.png", cat)}, data={"methods": "nonsense"}) == 422
    # gRPC: counted under the RPC's name, its errors under their HTTP codes.
    stub = VisionServeStub(grpc.insecure_channel(grpc_target))
    stub.Detect(pb.DetectRequest(images=[street]), timeout=60)
    sent[(_GRPC + "Detect", DETECTOR, "200")] += 1
    images[DETECTOR] += 1
    with pytest.raises(grpc.RpcError) as refused:
        stub.Classify(pb.ClassifyRequest(images=[b"not an image at all"]), timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    sent[(_GRPC + "Classify", "none", "400")] += 1
    # Load the classifier refuses: one request in its replica and one queued, the rest 503.
    eight = [("images", ("cat.png", cat))] * 8
    for _ in range(5):
        at_door = sent[("/v1/classify", "none", "503")]
        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(lambda _: post("/v1/classify", CLASSIFIER, eight), range(12)))
        # Received, refused by the model or not; those refused at the door were never read.
        images[CLASSIFIER] += 8 * (len(codes) - (sent[("/v1/classify", "none", "503")] - at_door))
        assert set(codes) <= {200, 503}, codes
        if 503 in codes:
            break
    refused = sent[("/v1/classify", CLASSIFIER, "503")] + sent[("/v1/classify", "none", "503")]
    assert refused > 0, "the burst was never refused"
    return sent, dict(images)


def _wait_for(
    prometheus: str, expr: str, expected: dict[tuple[str, ...], float], keys: tuple[str, ...]
) -> None:
    deadline = time.monotonic() + 120
    while True:
        got = {
            tuple(s["metric"].get(k, "") for k in keys): float(s["value"][1])
            for s in _query(prometheus, expr)
        }
        if got == expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert got == expected, (
        f"{expr}\n got      {sorted(got.items())}\n expected {sorted(expected.items())}\n"
        f" scrapes  {_scrape_health(prometheus)}"
    )


def _scrape_health(prometheus: str) -> list[dict[str, Any]]:
    """How Prometheus's last scrapes went: a failed scrape marks every series stale at once."""
    targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
    return [
        {k: t.get(k) for k in ("scrapeUrl", "health", "lastError", "lastScrapeDuration", "scrapeTimeout")}
        for t in targets
    ]


def _comparisons_as_bool(expr: str) -> str:
    """``a > 0.5`` -> ``a > bool 0.5``: the comparison's value whether or not the alert fires.

    Only comparison operators outside label matchers ``{...}`` and strings are changed.
    """
    out, depth, quote, i = [], 0, "", 0
    while i < len(expr):
        c = expr[i]
        if quote:
            out.append(c)
            quote = "" if c == quote and expr[i - 1] != "\\" else quote
        elif c in "\"'":
            quote = c
            out.append(c)
        elif c in "{}":
            depth += 1 if c == "{" else -1
            out.append(c)
        elif depth == 0 and (m := re.match(r"==|!=|>=|<=|>|<", expr[i:])):
            out.append(f"{m.group(0)} bool")
            i += len(m.group(0))
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = (
                target["expr"]
                .replace("$__rate_interval", "5m")
                .replace('application=~"$application"', f'application=~"{APP}"')
                .replace('model=~"$model"', 'model=~".*"')
            )
            assert "$" not in expr, f"unresolved variable in {panel['title']!r}: {expr}"
            found.append((f"dashboard: {panel['title']}", expr))
    return found


def _rule_queries() -> list[tuple[str, str]]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules" / "visionserve.yml").read_text())
    found = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            expr = _comparisons_as_bool(rule["expr"]) if "alert" in rule else rule["expr"]
            found.append((f"rule: {name}", expr))
    return found


def test_comparisons_as_bool_leaves_label_matchers_alone() -> None:
    assert _comparisons_as_bool('x{code=~"5..", a!="b"} > 0.5') == 'x{code=~"5..", a!="b"} > bool 0.5'
    assert _comparisons_as_bool("a >= on (b) c") == "a >= bool on (b) c"
    assert _comparisons_as_bool('up{job="v"} == 0') == 'up{job="v"} == bool 0'


def test_prometheus_sees_exact_counts_and_every_query_answers(
    observed: tuple[str, str], prometheus: str
) -> None:
    by_code = ("endpoint", "model", "code")
    requests = f'ray_visionserve_requests_total{{application="{APP}", kind!="other"}}'
    # Twice, the second time once Prometheus holds the first: a series that first appears
    # with all of its traffic already in it has no rate yet, and the panels show rates.
    sent, images = _send_traffic(*observed)
    first = {key: float(n) for key, n in sent.items()}
    _wait_for(prometheus, f"sum by (endpoint, model, code) ({requests})", first, by_code)
    # Each replica exports its metrics on its own clock: the ingress's counts being in says
    # nothing of the models'. Wait for what each model recorded in the first round too.
    _wait_for(
        prometheus,
        f'sum by (model) (ray_visionserve_mask_area_share_count{{application="{APP}"}})',
        {(SEGMENTER,): 2.0},
        ("model",),
    )
    _wait_for(
        prometheus,
        f'sum by (model) (ray_visionserve_detections_per_image_count{{application="{APP}"}})',
        {(DETECTOR,): 4.0},
        ("model",),
    )
    _wait_for(
        prometheus,
        f'sum by (method) (ray_visionserve_explanation_seconds_count{{application="{APP}"}})',
        {("gradcam",): 1.0, ("saliency",): 1.0},
        ("method",),
    )
    more_sent, more_images = _send_traffic(*observed)
    sent += more_sent
    images = {m: images[m] + more_images[m] for m in images}

    # Requests by endpoint, model and code: exactly what was sent.
    expected = {key: float(n) for key, n in sent.items()}
    _wait_for(prometheus, f"sum by (endpoint, model, code) ({requests})", expected, by_code)
    errors = {k: v for k, v in expected.items() if not k[2].startswith("2")}
    failed = f'ray_visionserve_requests_total{{application="{APP}", code!~"2.."}}'
    _wait_for(prometheus, f"sum by (endpoint, model, code) ({failed})", errors, by_code)
    rejected = {
        (model, "overloaded"): expected[("/v1/classify", model, "503")]
        for model in (CLASSIFIER, "none")
        if ("/v1/classify", model, "503") in expected
    }
    _wait_for(
        prometheus,
        f'sum by (model, reason) (ray_visionserve_rejected_requests_total{{application="{APP}"}})',
        rejected,
        ("model", "reason"),
    )
    # Images received, and run by the models (explanations run in the explainer).
    _wait_for(
        prometheus,
        f'sum by (model) (ray_visionserve_images_total{{application="{APP}"}})',
        {(m,): float(n) for m, n in images.items()},
        ("model",),
    )
    refused = 8 * expected.get(("/v1/classify", CLASSIFIER, "503"), 0)
    explained = 4
    ran = {(m,): float(n - (refused + explained if m == CLASSIFIER else 0)) for m, n in images.items()}
    _wait_for(
        prometheus,
        f'sum by (model) (ray_visionserve_batched_images_total{{application="{APP}"}})',
        ran,
        ("model",),
    )
    _wait_for(
        prometheus,
        f'sum by (method) (ray_visionserve_explanation_seconds_count{{application="{APP}"}})',
        {("gradcam",): 2.0, ("saliency",): 2.0},
        ("method",),
    )

    # Every expression a dashboard panel or a rule uses returns data (rules are evaluated
    # every second; rates need two scrapes).
    queries = _dashboard_queries() + _rule_queries()
    assert len(queries) > 40
    deadline = time.monotonic() + 60
    missing = queries
    while missing and time.monotonic() < deadline:
        missing = [(name, expr) for name, expr in missing if not any(map(_finite, _query(prometheus, expr)))]
        if missing:
            time.sleep(2)
    assert not missing, "queries without data:\n" + "\n".join(f"{n}: {e}" for n, e in missing)
