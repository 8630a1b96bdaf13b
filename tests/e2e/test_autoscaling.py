"""Autoscaling from config, observed through Serve's status API: an application of its own
whose classifier scales between 1 and 2 replicas with short delays."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import classifier_app, image_bytes
from visionserve.config import AutoscalingConfig, DeploymentConfig, ServiceConfig
from visionserve.local import LocalService
from visionserve.settings import Settings

pytestmark = pytest.mark.e2e

APP = "autoscaled"
DEPLOYMENT = "model-efficientnet-lite0"
SCALING = AutoscalingConfig(
    min_replicas=1,
    max_replicas=2,
    target_ongoing_requests=2,
    upscale_delay_s=2,
    downscale_delay_s=8,
    look_back_period_s=2,
    metrics_interval_s=0.5,
)


def _running_replicas() -> int:
    from ray import serve

    deployment = serve.status().applications[APP].deployments[DEPLOYMENT]
    return int(deployment.replica_states.get("RUNNING", 0))


def _total_replicas() -> int:
    from ray import serve

    return sum(serve.status().applications[APP].deployments[DEPLOYMENT].replica_states.values())


@pytest.fixture(scope="module")
def autoscaled(local_config: ServiceConfig, local_service: LocalService, settings: Settings) -> Iterator[str]:
    from ray import serve

    from visionserve.local import deploy_app

    deployment = DeploymentConfig(placement="replica", num_cpus=0, autoscaling=SCALING)
    config = classifier_app(local_config, deployment=deployment)
    port = deploy_app(config, name=APP, route_prefix=f"/{APP}", settings=settings)
    try:
        yield f"http://{local_service.host}:{port}/{APP}"
    finally:
        serve.delete(APP)


def _wait_for(condition: str, check: object, timeout_s: float) -> float:
    """Seconds until ``check()`` holds; fails with the replica counts after ``timeout_s``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.25)
    raise AssertionError(f"{condition} not within {timeout_s:g}s: {_running_replicas()} running")


def test_sustained_load_scales_up_and_idle_scales_back_down(autoscaled: str) -> None:
    assert _running_replicas() == 1
    photo = image_bytes("chelsea.png")
    stop = threading.Event()
    answers: list[int] = []

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                files = [("images", ("c.png", photo))]
                answers.append(http.post(f"{autoscaled}/v1/classify", files=files).status_code)

    # 8 in flight against a target of 2 per replica: the autoscaler wants the maximum.
    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        scaled_up_s = _wait_for("scaling up to 2 replicas", lambda: _running_replicas() == 2, 90)
        time.sleep(3)  # the new replica takes its share while the load lasts
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert scaled_up_s >= SCALING.upscale_delay_s, "demand lasts upscale_delay_s before a replica is added"
    assert set(answers) == {200}

    idle_s = _wait_for("scaling back down to 1 replica", lambda: _total_replicas() == 1, 90)
    # No sooner than the configured delay after demand fell; well before the 90 s limit.
    assert idle_s >= SCALING.downscale_delay_s
    assert idle_s <= SCALING.downscale_delay_s + SCALING.look_back_period_s + 30
    assert _running_replicas() == 1
