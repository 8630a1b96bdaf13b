"""Ray's ports refuse whoever lacks the token: called as an attacker would, from another address
(a network namespace of its own, joined to this machine by a veth pair) and on loopback.

The session's service runs with Ray's token authentication (tests/conftest.py, as
`visionserve serve` does by default). Every TCP port a process of its Ray listens on is either
bound to loopback, and then unreachable from the other address, or bound to every interface,
and then it is a gRPC server that answers UNAUTHENTICATED without the token: Serve's
inter-deployment servers, which unpickle what they are sent. The only exceptions are the
service's own gRPC API ports (they serve visionserve.v1 only, behind the service's API keys).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.serve_process import descendants
from visionserve.local import LocalService

pytestmark = pytest.mark.e2e

INTERNAL_METHOD = "/ray.serve.ASGIService/HandleRequest"  # what one deployment calls on another
GCS_METHOD = "/ray.rpc.NodeInfoGcsService/GetAllNodeInfo"
RAYLET_METHOD = "/ray.rpc.NodeManagerService/GetNodeStats"
LOOPBACK_HOSTS = {"127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"}
WILDCARD_HOSTS = {"0.0.0.0", "*", "[::]"}

# Runs inside the namespace: connects to each port and makes each gRPC call, prints JSON.
PEER_PROBE = r"""
import json, socket, sys
import grpc

job = json.loads(sys.argv[1])
def connects(port):
    with socket.socket() as s:
        s.settimeout(3)
        return s.connect_ex((job["host"], port)) == 0
def status(port, method, metadata):
    with grpc.insecure_channel(f"{job['host']}:{port}") as channel:
        try:
            channel.unary_unary(method)(b"", timeout=10, metadata=metadata)
            return "OK"
        except grpc.RpcError as error:
            return error.code().name
bearer = (("authorization", "Bearer " + job["token"]),)
print(json.dumps({
    "connects": {port: connects(port) for port in job["ports"]},
    "without_token": {port: status(port, job["method"], ()) for port in job["grpc_ports"]},
    "with_token": {port: status(port, job["method"], bearer) for port in job["grpc_ports"]},
}))
"""


@dataclass
class Listener:
    host: str
    port: int
    pid: int
    title: str


def _ray_listeners() -> list[Listener]:
    """TCP listeners of this process's Ray: the GCS, raylet, dashboard agent, workers, replicas."""
    ours = descendants(os.getpid())
    ours[os.getpid()] = "the driver"
    found = []
    for line in subprocess.run(
        ["ss", "-ltnpH"], capture_output=True, text=True, check=True
    ).stdout.splitlines():
        fields = line.split()
        pids = [int(p) for p in re.findall(r"pid=(\d+)", line)]
        host, port = fields[3].rsplit(":", 1)
        for pid in pids:
            if pid in ours and _is_ray(pid, ours[pid]):
                found.append(Listener(host, int(port), pid, ours[pid]))
                break
    return found


def _is_ray(pid: int, title: str) -> bool:
    if pid == os.getpid() or title.startswith("ray::") or Path(title).name in ("gcs_server", "raylet"):
        return True
    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return "/ray/" in command  # Ray's Python daemons: dashboard agent, log monitor...


def _token() -> str:
    return Path(os.environ["RAY_AUTH_TOKEN_PATH"]).read_text()


@dataclass
class Peer:
    namespace: str
    host_address: str

    def probe(self, ports: list[int], grpc_ports: list[int], method: str) -> dict[str, Any]:
        job = {"host": self.host_address, "ports": ports, "grpc_ports": grpc_ports, "method": method}
        job["token"] = _token()
        done = subprocess.run(
            ["ip", "netns", "exec", self.namespace, sys.executable, "-c", PEER_PROBE, json.dumps(job)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        answer: dict[str, Any] = json.loads(done.stdout)
        return {kind: {int(p): v for p, v in found.items()} for kind, found in answer.items()}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    """A network namespace whose only way out is a veth pair to this machine: a client there has
    an address of its own (198.18.x.2, RFC 2544's test range) and reaches this machine at x.1."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("a network namespace needs root and iproute2 (scripts/install-iproute2)")
    tag = os.getpid() % 10000
    namespace, here, there = f"vs-peer-{tag}", f"vsh{tag}", f"vsp{tag}"
    subnet = f"198.18.{tag % 250}"
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", namespace)
        _ip("addr", "add", f"{subnet}.1/30", "dev", here)
        _ip("link", "set", here, "up")
        _ip("-n", namespace, "addr", "add", f"{subnet}.2/30", "dev", there)
        _ip("-n", namespace, "link", "set", there, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        yield Peer(namespace, f"{subnet}.1")
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)


def _api_ports(service: LocalService) -> set[int]:
    """The gRPC API's ports: Ray's proxy's and every application's ingress replicas' (other
    tests deploy applications of their own beside the service)."""
    from ray.serve.context import _get_global_client

    details = _get_global_client().get_serve_details()
    ports = {
        int(target["port"])
        for group in details.get("target_groups", [])
        if group["protocol"] == "gRPC"
        for target in group["targets"]
    }
    return ports | {p for p in (service.grpc_port, service.proxy_grpc_port) if p is not None}


def test_from_another_address_rays_ports_are_unreachable_or_refuse_without_the_token(
    local_service: LocalService, peer: Peer
) -> None:
    listeners = _ray_listeners()
    loopback = sorted({x.port for x in listeners if x.host in LOOPBACK_HOSTS})
    exposed = sorted({x.port for x in listeners if x.host not in LOOPBACK_HOSTS})
    assert {x.host for x in listeners if x.host not in LOOPBACK_HOSTS} <= WILDCARD_HOSTS
    assert len(loopback) >= 6, listeners  # GCS, raylet, dashboard agent, metrics, workers...

    answer = peer.probe(loopback + exposed, exposed, INTERNAL_METHOD)

    reachable = [x for x in listeners if x.host in LOOPBACK_HOSTS and answer["connects"][x.port]]
    assert not reachable, f"loopback ports that answer {peer.host_address}: {reachable}"
    assert all(answer["connects"][p] for p in exposed), "the peer reaches this machine's ports"
    api = _api_ports(local_service)
    internal = [p for p in exposed if p not in api]
    assert internal, f"no inter-deployment server found among {listeners}"
    for port in internal:
        owner = next(x.title for x in listeners if x.port == port)
        assert answer["without_token"][port] == "UNAUTHENTICATED", (port, owner, answer)
        assert answer["with_token"][port] != "UNAUTHENTICATED", "the token is what it refuses"
    for port in set(exposed) & api:  # the service's API: Ray's internal services are not there
        assert answer["without_token"][port] == "UNIMPLEMENTED", (port, answer)


def _status(target: str, method: str, metadata: tuple[tuple[str, str], ...] = ()) -> str:
    with grpc.insecure_channel(target) as channel:
        try:
            channel.unary_unary(method)(b"", timeout=10, metadata=metadata)
            return "OK"
        except grpc.RpcError as error:
            return str(error.code().name)


def test_on_loopback_the_gcs_raylet_and_replicas_refuse_calls_without_the_token(
    local_service: LocalService,
) -> None:
    import ray

    node = ray._private.worker._global_node
    bearer = (("authorization", f"Bearer {_token()}"),)
    raylet = f"127.0.0.1:{node.node_manager_port}"
    assert _status(node.gcs_address, GCS_METHOD) == "UNAUTHENTICATED"
    assert (
        _status(node.gcs_address, GCS_METHOD, (("authorization", "Bearer " + "0" * 64),)) == "UNAUTHENTICATED"
    )
    assert _status(node.gcs_address, GCS_METHOD, bearer) == "OK"
    assert _status(raylet, RAYLET_METHOD) == "UNAUTHENTICATED"
    assert _status(raylet, RAYLET_METHOD, bearer) == "OK"
    api = _api_ports(local_service)
    replicas = [x for x in _ray_listeners() if x.title.startswith("ray::ServeReplica") and x.port not in api]
    internal = {x.port for x in replicas if x.host in WILDCARD_HOSTS}
    assert internal
    for port in internal:
        assert _status(f"127.0.0.1:{port}", INTERNAL_METHOD) == "UNAUTHENTICATED"


def test_a_driver_without_the_token_cannot_join_the_cluster(local_service: LocalService) -> None:
    import ray

    gcs = ray._private.worker._global_node.gcs_address
    program = f"import ray; ray.init(address={gcs!r}); print('JOINED')"
    ours = ("RAY_AUTH_", "RAY_SERVE_", "RAY_ADDRESS")
    base = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    # Else Ray turns the GCS's 127.0.0.1 into this machine's address, where nothing listens.
    base["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    attempts = {
        "no token": {**base, "RAY_AUTH_MODE": "disabled"},
        "a wrong token": {**base, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64},
        "the token": {**base, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": _token()},
    }
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    running = {
        name: subprocess.Popen([sys.executable, "-c", program], env=env, **pipes)  # type: ignore[call-overload]
        for name, env in attempts.items()
    }
    results = {name: process.communicate(timeout=180) for name, process in running.items()}
    assert "JOINED" in results["the token"][0], results["the token"][1][-2000:]
    for name in ("no token", "a wrong token"):
        out, err = results[name]
        assert running[name].returncode != 0
        assert "JOINED" not in out
        assert "InvalidAuthToken" in err, (name, err[-2000:])
