"""Overload and a killed replica through real HTTP: an application of its own, two replicas of
the classifier that shed past 100 ms of queued work."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import classifier_app, image_bytes
from visionserve.config import DeploymentConfig, ServiceConfig
from visionserve.local import LocalService
from visionserve.settings import Settings

pytestmark = pytest.mark.e2e

APP = "hardened"
DEPLOYMENT = "model-efficientnet-lite0"


@pytest.fixture(scope="module")
def hardened(local_config: ServiceConfig, local_service: LocalService, settings: Settings) -> Iterator[str]:
    from ray import serve

    from visionserve.local import deploy_app

    batching = local_config.models[0].batching.model_copy(update={"max_queue_ms": 100})
    deployment = DeploymentConfig(placement="replica", num_cpus=0, num_replicas=2)
    config = classifier_app(local_config, deployment=deployment, batching=batching)
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


def _external_address() -> str | None:
    """An IPv4 address of this machine other than loopback, if it has one (Linux)."""
    import fcntl
    import struct

    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                request = struct.pack("256s", name.encode()[:15])
                answer = fcntl.ioctl(probe.fileno(), 0x8915, request)  # SIOCGIFADDR
            except OSError:  # no IPv4 address on this interface
                continue
        address = socket.inet_ntoa(answer[20:24])
        if not address.startswith("127."):
            return address
    return None


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0


def test_rays_own_ports_listen_on_loopback_only(local_service: LocalService) -> None:
    """Ray's GCS, raylet, dashboard agent (its job API runs code) and metrics endpoint."""
    import ray

    node = ray._private.worker._global_node
    assert node.node_ip_address == "127.0.0.1"
    ports = {
        "gcs": int(node.gcs_address.rsplit(":", 1)[1]),
        "raylet": node.node_manager_port,
        "dashboard agent": node.dashboard_agent_listen_port,
        "metrics agent": node.metrics_agent_port,
        "runtime env agent": node.runtime_env_agent_port,
        "metrics": local_service.metrics_port,
    }
    external = _external_address()
    if external is None:
        pytest.skip("no address but loopback to test from")
    for name, port in ports.items():
        assert port, name
        assert _accepts("127.0.0.1", port), name
        assert not _accepts(external, port), f"Ray's {name} port {port} answers on {external}"
