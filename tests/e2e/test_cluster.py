"""deploy/serve/multinode.yaml on a real two-node Ray cluster on this machine, through Ray's own
tooling: `ray start --head`, a second `ray start --address` node with resources of its own,
`serve deploy` of the config file, Serve's REST API for placement.

Both nodes share this machine's address, so two proxies cannot both listen on one port: the
test deploys the file with the proxy on the head only (`proxy_location: HeadOnly`) and on
free ports. Every application arg is the file's own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ROOT, free_port
from tests.helpers import CAT_LABELS, IMAGES
from visionserve_client import VisionServe

pytestmark = pytest.mark.e2e

MULTINODE_CONFIG = ROOT / "deploy" / "serve" / "multinode.yaml"
BIN = Path(sys.executable).parent
# Logical CPUs per node: the file's replicas ask for 11.5 in all (whole cores each).
NODE_CPUS = 8
# Worker ports below the kernel's ephemeral range, apart from the session's Ray (10002-19999).
WORKER_PORTS = {"head": (21000, 21199), "worker": (21200, 21399)}


@dataclass
class Cluster:
    dashboard: str
    http: str
    processes: list[subprocess.Popen[bytes]]
    logs: Path

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.dashboard}{path}", headers=ray_auth_header(), timeout=30)
        response.raise_for_status()
        return response.json()

    def alive_nodes(self) -> list[dict[str, Any]]:
        nodes = self.get("/api/v0/nodes?limit=100")["data"]["result"]["result"]
        return [n for n in nodes if n["state"] == "ALIVE"]


def _node_ports(role: str) -> list[str]:
    low, high = WORKER_PORTS[role]
    ports = {
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(),
        "--metrics-export-port": free_port(),
        "--node-manager-port": free_port(),
        "--object-manager-port": free_port(),
        "--min-worker-port": low,
        "--max-worker-port": high,
    }
    return [item for flag, port in ports.items() for item in (flag, str(port))]


def ray_auth_header() -> dict[str, str]:
    """Ray's dashboard and REST API answer 401 without the cluster's token (tests/conftest.py)."""
    return {"authorization": f"Bearer {Path(os.environ['RAY_AUTH_TOKEN_PATH']).read_text()}"}


def _cluster_env() -> dict[str, str]:
    # The session's token authentication (RAY_AUTH_MODE, RAY_AUTH_TOKEN_PATH) is kept.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_SERVE_", "RAY_ADDRESS"))}
    env.update(RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # a cluster of nodes, not of one
    return env


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    # Its own process group: stopping the cluster ends each node's processes and no one else's
    # (`ray stop` would also stop the test session's Ray).
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(BIN / "ray"), "start", "--block", "--disable-usage-stats", *args],
            env=_cluster_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in reversed(processes):
        try:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait(what: str, check: Any, timeout_s: float, cluster: Cluster) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except httpx.HTTPError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(1)
    logs = "\n".join(p.read_text()[-2000:] for p in cluster.logs.glob("*.log"))
    raise AssertionError(f"{what} not after {timeout_s:g}s: {last}\n{logs}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    logs = tmp_path_factory.mktemp("cluster")
    # Ray's Unix sockets live under its temp dir; their paths must stay under 108 bytes.
    ray_dir = Path(tempfile.mkdtemp(prefix="vs-ray-"))
    gcs_port, dashboard_port = free_port(), free_port()
    head = _start(
        [
            "--head",
            f"--port={gcs_port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard_port}",
            f"--ray-client-server-port={free_port()}",
            f"--num-cpus={NODE_CPUS}",
            f"--temp-dir={ray_dir}",
            *_node_ports("head"),
        ],
        logs / "head.log",
    )
    cluster = Cluster(f"http://127.0.0.1:{dashboard_port}", "", [head], logs)
    try:
        _wait("the head's dashboard", lambda: cluster.get("/api/version"), 90, cluster)
        worker = _start(
            [
                f"--address=127.0.0.1:{gcs_port}",
                f"--num-cpus={NODE_CPUS}",
                '--resources={"worker_node": 1}',
                *_node_ports("worker"),
            ],
            logs / "worker.log",
        )
        cluster.processes.append(worker)
        _wait("two alive nodes", lambda: len(cluster.alive_nodes()) == 2, 90, cluster)
        cluster.http = _deploy(cluster, logs)
        yield cluster
    finally:
        _stop(cluster.processes)
        shutil.rmtree(ray_dir, ignore_errors=True)


def _deploy(cluster: Cluster, logs: Path) -> str:
    document = yaml.safe_load(MULTINODE_CONFIG.read_text())
    http_port = free_port()
    document["proxy_location"] = "HeadOnly"
    document["http_options"].update(host="127.0.0.1", port=http_port)
    document["grpc_options"]["port"] = free_port()
    config = logs / "multinode.yaml"
    config.write_text(yaml.safe_dump(document))
    subprocess.run(
        [str(BIN / "serve"), "deploy", str(config), "--address", cluster.dashboard],
        env=_cluster_env(),
        check=True,
        capture_output=True,
        timeout=120,
    )

    def running() -> bool:
        app = cluster.get("/api/serve/applications/")["applications"].get("visionserve")
        if app and app["status"] == "DEPLOY_FAILED":
            raise AssertionError(f"deploy failed: {app['message']}")
        return bool(app) and app["status"] == "RUNNING"

    _wait("the application RUNNING", running, 420, cluster)
    return f"http://127.0.0.1:{http_port}"


def test_serve_deploy_places_replicas_on_both_nodes_and_serves(cluster: Cluster) -> None:
    nodes = {n["node_id"]: n for n in cluster.alive_nodes()}
    worker_node = next(i for i, n in nodes.items() if "worker_node" in n["resources_total"])
    app = cluster.get("/api/serve/applications/")["applications"]["visionserve"]
    placed = {
        name: [r["node_id"] for r in deployment["replicas"] if r["state"] == "RUNNING"]
        for name, deployment in app["deployments"].items()
    }
    # The file's deployments, as it configures them: autoscaled from their minimums.
    assert {name: len(ids) for name, ids in placed.items()} == {
        "ingress": 2,
        "explainer": 1,
        "model-efficientnet-lite0": 2,
        "model-yolox-nano": 1,
        "model-selfie-segmentation": 1,
        "pipeline-person-instances": 1,
    }
    assert set(placed["ingress"]) == set(nodes), "max_replicas_per_node: 1 puts an ingress on each node"
    assert worker_node in {i for ids in placed.values() for i in ids}
    models = app["deployments"]["model-efficientnet-lite0"]["deployment_config"]
    assert models["autoscaling_config"]["min_replicas"] == 2

    with VisionServe(cluster.http, timeout=120) as client:
        assert client.ready().ready
        for _ in range(4):  # through both ingress replicas
            classified = client.classify(IMAGES / "chelsea.png", top_k=3)
            assert classified.results[0].classes[0].label in CAT_LABELS
        detected = client.detect(IMAGES / "dog_bike_car.jpg", score_threshold=0.5)
        assert {"dog", "bicycle", "car"} <= {d.label for d in detected.results[0].detections}
        explanation = client.explain(IMAGES / "chelsea.png", model="efficientnet-lite0", methods=["gradcam"])
        assert explanation.results[0].explanations[0].method == "gradcam"


def test_the_cluster_answers_rays_tools_with_the_token_only(cluster: Cluster) -> None:
    """`serve status` reads the token as `serve deploy` did; without it Ray refuses."""
    status = subprocess.run(
        [str(BIN / "serve"), "status", "--address", cluster.dashboard],
        env=_cluster_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert yaml.safe_load(status.stdout)["applications"]["visionserve"]["status"] == "RUNNING"
    wrong = {**_cluster_env(), "RAY_AUTH_TOKEN": "0" * 64}
    refused = subprocess.run(
        [str(BIN / "serve"), "status", "--address", cluster.dashboard],
        env=wrong,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "visionserve" not in refused.stdout
    assert httpx.get(f"{cluster.dashboard}/api/serve/applications/", timeout=30).status_code == 401


def _exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_stopping_the_cluster_leaves_none_of_its_processes(cluster: Cluster) -> None:
    app = cluster.get("/api/serve/applications/")["applications"]["visionserve"]
    replica_pids = [r["pid"] for d in app["deployments"].values() for r in d["replicas"]]
    assert replica_pids
    _stop(cluster.processes)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_exists(p) for p in replica_pids):
        time.sleep(0.5)
    assert not [p for p in replica_pids if _exists(p)]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{cluster.http}/healthz", timeout=2)
