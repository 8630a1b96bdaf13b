"""`visionserve serve` as a process of its own (its own Ray, its own ports), its processes, and
the time its ports take to answer again after its ingress replica is killed.

Used by tests/e2e/test_ingress_recovery.py and load_tests/bench_recovery.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
import httpx
import yaml

from visionserve.config import ServiceConfig
from visionserve.v1 import visionserve_pb2 as pb
from visionserve.v1.visionserve_pb2_grpc import VisionServeStub

ROOT = Path(__file__).resolve().parents[1]
LOCAL_CONFIG = ROOT / "deploy" / "serve" / "local.yaml"
INGRESS_TITLE = "ray::ServeReplica:visionserve:ingress"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(root: int) -> dict[int, str]:
    """pid -> process title of every process below ROOT (children, their children...)."""
    children: dict[int, list[int]] = {}
    titles: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
        titles[int(entry.name)] = title
    found: dict[int, str] = {}
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found[child] = titles[child]
            pending.append(child)
    return found


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    log: Path
    port: int
    grpc_port: int
    metrics_port: int
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ingress_pids(self) -> list[int]:
        found = descendants(self.process.pid)
        return [pid for pid, title in found.items() if title.split()[0] == INGRESS_TITLE]

    def answers(self) -> dict[str, bool]:
        """Whether each of the service's ports answers: HTTP /readyz, gRPC ListModels, /metrics."""
        return {"http": self.http_ready(), "grpc": self.grpc_answers(), "metrics": self.metrics_answer()}

    def http_ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def grpc_answers(self) -> bool:
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            try:
                VisionServeStub(channel).ListModels(pb.ListModelsRequest(), timeout=5)
                return True
            except grpc.RpcError:
                return False

    def metrics_answer(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> int:
        """SIGTERM (a clean stop), SIGKILL to the whole group if that takes over 90 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
        return self.process.returncode


def start_serve(config: ServiceConfig, folder: Path, timeout_s: float = 240) -> ServeProcess:
    """`visionserve serve` of CONFIG (the default file's ports and options) on free ports,
    in a process group of its own; returns once it has started and /readyz answers 200."""
    document = yaml.safe_load(LOCAL_CONFIG.read_text())
    document["applications"][0]["args"] = config.model_dump(mode="json")
    config_file = folder / "serve.yaml"
    config_file.write_text(yaml.safe_dump(document))
    ports = {"--port": free_port(), "--grpc-port": free_port(), "--metrics-port": free_port()}
    log = folder / "serve.log"
    log_file = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "visionserve.cli", "serve", str(config_file), "--no-dashboard"]
        + [item for flag, port in ports.items() for item in (flag, str(port))],
        cwd=ROOT,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # nothing it starts outlives it
    )
    served = ServeProcess(
        process, log, ports["--port"], ports["--grpc-port"], ports["--metrics-port"], log_file
    )
    deadline = time.monotonic() + timeout_s
    # Started means the command says so: /readyz answers as soon as the ingress replica is up,
    # a moment before Serve counts the application as running and the command returns.
    while not (served.http_ready() and "VisionServe on http" in served.output()):
        if process.poll() is not None or time.monotonic() > deadline:
            served.stop()
            raise RuntimeError(f"visionserve serve did not start:\n{served.output()[-3000:]}")
        time.sleep(1)
    return served


def kill_ingress_and_time(served: ServeProcess, limit_s: float) -> dict[str, float | None]:
    """SIGKILL the ingress replica while a client holds an idle keep-alive connection to it
    (as clients do: the kernel then keeps the port busy after the process dies), and return
    the seconds until each port answers again (None: not within LIMIT_S)."""
    (victim,) = served.ingress_pids()
    with httpx.Client(timeout=10) as keep_alive:
        assert keep_alive.get(f"{served.url}/healthz").status_code == 200
        os.kill(victim, signal.SIGKILL)
        start = time.monotonic()
        while Path(f"/proc/{victim}").exists() and time.monotonic() - start < 10:
            time.sleep(0.05)
        back: dict[str, float | None] = {}
        pending = {"http", "grpc", "metrics"}
        while pending and time.monotonic() - start < limit_s:
            for name, answers in served.answers().items():
                if name in pending and answers:
                    back[name] = round(time.monotonic() - start, 1)
                    pending.discard(name)
            time.sleep(0.5)
    return {name: back.get(name) for name in ("http", "grpc", "metrics")}
