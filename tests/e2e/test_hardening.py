"""Overload and a killed replica through real HTTP: an application of its own, two replicas of
the classifier that shed past 100 ms of queued work."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import image_bytes
from visionserve.config import ServiceConfig
from visionserve.local import LocalService
from visionserve.settings import Settings

pytestmark = pytest.mark.e2e

APP = "hardened"
DEPLOYMENT = "model-efficientnet-lite0"


@pytest.fixture(scope="module")
def hardened(local_config: ServiceConfig, local_service: LocalService, settings: Settings) -> Iterator[str]:
    from ray import serve

    from visionserve.local import deploy_app

    classifier = local_config.models[0]
    deployment = classifier.deployment.model_copy(update={"num_cpus": 0, "num_replicas": 2})
    config = local_config.model_copy(
        update={
            "ingress": local_config.ingress.model_copy(update={"num_cpus": 0}),
            "explainer": local_config.explainer.model_copy(update={"enabled": False}),
            "models": [
                classifier.model_copy(
                    update={
                        "deployment": deployment,
                        "batching": classifier.batching.model_copy(update={"max_queue_ms": 100}),
                    }
                )
            ],
            "pipelines": [],
        }
    )
    port = deploy_app(config, name=APP, route_prefix=f"/{APP}", settings=settings)
    url = f"http://{local_service.host}:{port}/{APP}"
    for _ in range(4):  # both replicas learn their speed
        assert _classify(url).status_code == 200
    try:
        yield url
    finally:
        serve.delete(APP)


def _classify(url: str) -> httpx.Response:
    files = [("images", ("c.png", image_bytes("chelsea.png")))]
    return httpx.post(f"{url}/v1/classify", files=files, timeout=60)


def test_a_burst_beyond_capacity_gets_200s_and_quick_json_503s_only(hardened: str) -> None:
    photo = image_bytes("chelsea.png")

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            return await asyncio.gather(
                *(
                    client.post(f"{hardened}/v1/classify", files=[("images", ("c.png", photo))])
                    for _ in range(96)
                )
            )

    answers = asyncio.run(burst())
    statuses = [a.status_code for a in answers]
    assert set(statuses) == {200, 503}, statuses
    for refused in (a for a in answers if a.status_code == 503):
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "overloaded"
    for served in (a for a in answers if a.status_code == 200):
        assert served.json()["results"][0]["classes"][0]["label"]
    # Once the burst is over the endpoint serves again (the ingress always lets one through).
    assert [_classify(hardened).status_code for _ in range(3)] == [200, 200, 200]


def _replica_pids() -> set[int]:
    title = f"ray::ServeReplica:{APP}:{DEPLOYMENT}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().split(b"\0")[0].split(b" ")[0] == title:
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def test_a_killed_replica_loses_no_request_and_is_replaced(hardened: str) -> None:
    from ray import serve

    before = _replica_pids()
    assert len(before) == 2
    victim = min(before)
    statuses: list[int] = []
    stop = threading.Event()

    def caller() -> None:
        while not stop.is_set():
            statuses.append(_classify(hardened).status_code)

    callers = [threading.Thread(target=caller) for _ in range(2)]
    for thread in callers:
        thread.start()
    time.sleep(2)
    os.kill(victim, signal.SIGKILL)
    time.sleep(4)
    stop.set()
    for thread in callers:
        thread.join()
    assert statuses.count(200) > 10
    assert set(statuses) <= {200, 503}
    assert statuses.count(503) <= 2, statuses  # at most those in flight there, when retried there too

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = serve.status().applications[APP].deployments[DEPLOYMENT]
        now = _replica_pids()
        if status.replica_states.get("RUNNING") == 2 and len(now) == 2 and victim not in now:  # type: ignore[call-overload]
            break
        time.sleep(1)
    else:
        pytest.fail(f"no replacement for the killed replica: {serve.status().applications[APP]}")
    assert _classify(hardened).status_code == 200
