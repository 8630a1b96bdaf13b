"""Shedding on its own: the model's queue budget, the ingress gate and its ASGI middleware."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
from typing import Any

import pytest

from visionserve.batching import QueueBudget
from visionserve.config import AuthConfig
from visionserve.deployments.logs import SERVE_LOGGER, quiet_expected_errors
from visionserve.errors import InvalidImage, Overloaded
from visionserve.ingress.admission import AdmissionControl, ShedWhenFull, gated_route
from visionserve.ingress.auth import Authenticator
from visionserve.ingress.replica import NO_METRICS, Replica, publish


def test_the_queue_budget_admits_into_an_empty_queue_whatever_the_estimate() -> None:
    budget = QueueBudget("m", max_wait_s=0.010)
    budget.observe(images=1, seconds=1.0)  # a very slow model
    with budget.admit(64):  # larger than the budget, alone: it runs
        assert budget.admitted == 64
    assert budget.admitted == 0


def test_the_queue_budget_refuses_what_would_wait_too_long_and_frees_on_exit() -> None:
    budget = QueueBudget("classifier", max_wait_s=0.050)
    budget.observe(images=8, seconds=0.080)  # 10 ms an image
    # The first enters an empty queue; the second finds 40 ms queued, within 50.
    with budget.admit(4), budget.admit(2):
        assert budget.estimated_wait_s() == pytest.approx(0.060)
        with pytest.raises(Overloaded, match=r"classifier is over capacity: about 60 ms .*limit 50 ms"):
            budget.admit(1).__enter__()
        assert budget.admitted == 6  # the refusal took nothing
    with budget.admit(1):
        assert budget.admitted == 1


def test_the_queue_budget_follows_the_models_speed() -> None:
    budget = QueueBudget("m", max_wait_s=None)
    budget.observe(images=4, seconds=0.040)
    assert budget.estimated_wait_s() == 0
    for _ in range(50):
        budget.observe(images=4, seconds=0.004)
    with budget.admit(100):
        assert budget.estimated_wait_s() == pytest.approx(0.1, rel=0.01)  # 1 ms an image now


def test_without_a_budget_nothing_is_refused() -> None:
    budget = QueueBudget("m", max_wait_s=None)
    budget.observe(images=1, seconds=10.0)
    with budget.admit(1000), budget.admit(1000):
        assert budget.admitted == 2000


def test_the_gate_cuts_below_the_in_flight_count_on_a_refusal_and_grows_back_on_successes() -> None:
    gate = AdmissionControl(max_in_flight=256)
    for _ in range(20):
        assert gate.try_enter("/v1/classify")
    gate.refused("/v1/classify")
    assert gate.limit("/v1/classify") == pytest.approx(18.0)  # 20 in flight, 10% fewer
    assert not gate.try_enter("/v1/classify")
    assert gate.try_enter("/v1/detect")  # other endpoints are not affected
    for _ in range(3):
        gate.leave("/v1/classify")
    assert gate.try_enter("/v1/classify")  # 17 < 18
    for _ in range(18 * 4):
        gate.served("/v1/classify")
    assert 21 < gate.limit("/v1/classify") < 23  # about one more per limit served
    for _ in range(100_000):
        gate.served("/v1/classify")
    assert gate.limit("/v1/classify") == 256  # never above the configured maximum


def test_the_gate_always_lets_one_request_through() -> None:
    gate = AdmissionControl(max_in_flight=4)
    for _ in range(50):
        gate.try_enter("k")
        gate.refused("k")
        gate.leave("k")
    assert gate.limit("k") == 1.0
    assert gate.try_enter("k")
    assert not gate.try_enter("k")


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v1/classify", "/v1/classify"),
        ("/v1/explain", "/v1/explain"),
        ("/v1/explain/stream", "/v1/explain/stream"),
        ("/v1/understand/deepdream", "/v1/understand/deepdream"),
        ("/v1/audit/predictions/abc/explain", "/v1/audit/predictions/{record_id}/explain"),
        ("/v1/models/efficientnet-lite0/predict", None),  # no such route
        ("/v2/models/yolox-nano/infer", "/v2/models/{name}/infer"),
        ("/v1/models", None),
        ("/v1/classify/extra", None),
        ("/readyz", None),
    ],
)
def test_only_routes_that_queue_model_work_are_gated(path: str, route: str | None) -> None:
    assert gated_route("POST", path) == route
    assert gated_route("GET", path) is None


class _App:
    """A stand-in for the FastAPI app behind the middleware: records what reached it. The
    replica it stands in publishes ADMISSION, as the ingress's constructor does."""

    def __init__(self, admission: AdmissionControl | None) -> None:
        auth = Authenticator(AuthConfig())
        publish(Replica(NO_METRICS, auth, admission, services=None))  # type: ignore[arg-type]
        self.reached: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def _call(middleware: ShedWhenFull, app: _App, path: str, method: str = "POST") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        raise AssertionError("a refused request's body must not be read")

    scope = {"type": "http", "method": method, "path": path, "headers": [], "app": app}
    try:
        asyncio.run(middleware(scope, receive, send))
    finally:
        publish(None)
    return sent


def test_a_full_endpoint_is_answered_with_the_apis_503_without_reading_the_body() -> None:
    admission = AdmissionControl(max_in_flight=1)
    app = _App(admission)
    middleware = ShedWhenFull(app)
    assert admission.try_enter("/v1/classify")  # one in flight already
    sent = _call(middleware, app, "/v1/classify")
    assert app.reached == []
    start, body = sent
    assert start["status"] == 503
    headers = dict(start["headers"])
    assert headers[b"retry-after"] == b"1"
    assert headers[b"content-type"] == b"application/json"
    error = json.loads(body["body"])["error"]
    assert error["code"] == "overloaded"
    assert "/v1/classify" in error["message"]
    assert error["request_id"]
    # Other endpoints, GETs and ungated paths pass; the in-flight count is released after each.
    for path, method in [("/v1/detect", "POST"), ("/v1/classify", "GET"), ("/healthz", "POST")]:
        assert _call(middleware, app, path, method)[0]["status"] == 200
    assert admission.try_enter("/v1/detect")


def test_without_admission_control_configured_everything_passes() -> None:
    app = _App(None)
    assert _call(ShedWhenFull(app), app, "/v1/classify")[0]["status"] == 200


def test_replicas_do_not_log_service_errors_as_failures(caplog: pytest.LogCaptureFixture) -> None:
    quiet_expected_errors()
    quiet_expected_errors()  # idempotent
    logger = logging.getLogger(SERVE_LOGGER)
    assert sum(1 for f in logger.filters if type(f).__name__ == "_DropServiceErrors") == 1
    with caplog.at_level(logging.ERROR, logger=SERVE_LOGGER):
        for exc in (InvalidImage("not an image"), Overloaded("full"), RuntimeError("a bug")):
            try:
                raise exc
            except Exception:
                logger.exception("Request failed.")
    assert [r.exc_info[1].__class__.__name__ for r in caplog.records if r.exc_info] == ["RuntimeError"]


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
def test_lower_priority_puts_every_thread_and_later_ones_at_idle() -> None:
    program = """
import os, threading
from pathlib import Path
from visionserve.deployments.priority import lower_priority
started = threading.Event(); stop = threading.Event()
def wait(): started.set(); stop.wait()
before = threading.Thread(target=wait); before.start(); started.wait()
lower_priority("idle")
after = threading.Thread(target=stop.wait); after.start()
policies = {int(t.name): os.sched_getscheduler(int(t.name)) for t in Path("/proc/self/task").iterdir()}
stop.set(); before.join(); after.join()
print(len(policies), all(p == os.SCHED_IDLE for p in policies.values()))
"""
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    count, all_idle = result.stdout.split()
    assert int(count) >= 3
    assert all_idle == "True"


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
def test_lower_thread_priority_lowers_only_the_calling_thread() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from visionserve.deployments.priority import lower_thread_priority

    def this_thread() -> tuple[int, int]:
        thread_id = threading.get_native_id()
        return os.getpriority(os.PRIO_PROCESS, thread_id), os.sched_getscheduler(thread_id)

    own = this_thread()
    with ThreadPoolExecutor(1, initializer=lower_thread_priority, initargs=("low",)) as pool:
        low = pool.submit(this_thread).result()
    with ThreadPoolExecutor(1, initializer=lower_thread_priority, initargs=("idle",)) as pool:
        idle = pool.submit(this_thread).result()
    assert low == (19, own[1])
    assert idle[1] == os.SCHED_IDLE
    assert this_thread() == own


def test_forgetting_idle_paths_keeps_the_ones_in_flight() -> None:
    gate = AdmissionControl(max_in_flight=1)
    assert gate.try_enter("/v2/models/busy/infer")
    for index in range(10_002):
        gate.served(f"/v2/models/m{index}/infer")
    gate.leave("/v2/models/busy/infer")
    assert gate.try_enter("/v2/models/busy/infer")
    assert not gate.try_enter("/v2/models/busy/infer")  # its count went back to 0, not below
