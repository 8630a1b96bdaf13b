"""One source tree of VisionServe (a git worktree, a checkout) served by its own `visionserve
serve`, in a process group of its own: what api_snapshot.py and bench_request_path.py compare.

The tree's code is what runs, not the code installed in .venv (an editable install of one
checkout): its `services` and `clients/python` come first on PYTHONPATH, and the process starts
in the tree, whose folder Ray also puts on its workers' path. Ray's workers inherit the
environment of the process that starts Ray, so every replica imports from the same tree;
`check_replicas` reads that back from /proc once the service answers.

Each service has its own data folder (audit records, reference sets) and its own Ray token,
both under a folder the caller gives: nothing is kept between runs, nothing goes home.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = Path(os.environ.get("VISIONSERVE_MODEL_DIR", ROOT.parent / "shared" / "models"))
_TICKS = os.sysconf("SC_CLK_TCK")
# Ray workers that import the service's code: replicas, and proxies (the upload middleware).
_SERVE_WORKERS = ("ray::ServeReplica:", "ray::ProxyActor", "ray::ServeController")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def python_path(tree: Path) -> str:
    return f"{tree / 'services'}:{tree / 'clients' / 'python'}"


def environment(tree: Path, folder: Path) -> dict[str, str]:
    """This process's environment, with the tree's code first and a data folder and Ray token
    of the run's own (as tests/conftest.py gives the test sessions)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_TOKEN", "PYTHONPATH")}
    env.update(
        PYTHONPATH=python_path(tree),
        VISIONSERVE_MODEL_DIR=str(MODEL_DIR),
        VISIONSERVE_DATA_DIR=str(folder / "data"),
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(folder / "ray" / "auth_token"),
        # Ray kills a worker when the machine's memory passes 95%, whoever holds it: on a
        # machine shared with other Ray sessions that was this service's ingress, mid-run.
        RAY_memory_monitor_refresh_ms="0",
    )
    return env


def imported_from(tree: Path, folder: Path) -> dict[str, str]:
    """Where a process started as the service is imports visionserve and its client from."""
    probe = "import visionserve, visionserve_client as c; print(visionserve.__file__); print(c.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tree,
        env=environment(tree, folder),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    found = {"visionserve": out[0], "visionserve_client": out[1]}
    for name, path in found.items():
        if not Path(path).resolve().is_relative_to(tree.resolve()):
            raise SystemExit(f"{name} imports from {path}, not from {tree}")
    return found


def descendants(root: int) -> list[int]:
    """Every process below ROOT (children, their children...): Ray's GCS, raylet, agents, workers."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 for one that is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


@dataclass
class ServedTree:
    tree: Path
    process: subprocess.Popen[bytes]
    folder: Path
    port: int
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "serve.log"

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    def processes(self) -> list[int]:
        """The service's processes: `visionserve serve` (Ray's driver) and all below it."""
        return [self.process.pid, *descendants(self.process.pid)]

    def cpu(self) -> dict[int, float]:
        """pid -> CPU seconds so far, for every process of the service."""
        return {pid: cpu_seconds(pid) for pid in self.processes()}

    def check_replicas(self) -> dict[str, str]:
        """Each Ray worker's title -> the PYTHONPATH it runs with; SystemExit if one is not the tree's."""
        wanted = python_path(self.tree)
        seen: dict[str, str] = {}
        for pid in descendants(self.process.pid):
            name = title(pid)
            if not name.startswith(_SERVE_WORKERS):  # Ray's own agents run none of ours
                continue
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            path = next((e[11:].decode() for e in env if e.startswith(b"PYTHONPATH=")), "")
            if not path.startswith(wanted):
                raise SystemExit(f"{name} (pid {pid}) runs with PYTHONPATH={path!r}, not {wanted}")
            seen[name.split()[0]] = path
        if not any(name.startswith("ray::ServeReplica:") for name in seen):
            raise SystemExit("no Serve replica found below the service's process")
        return seen

    def stop(self) -> int:
        """SIGTERM (a clean stop: drain, then Serve and Ray); SIGKILL to what is left after 90 s."""
        left = {pid: title(pid) for pid in self.processes()}
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        time.sleep(1)
        # A Ray process that outlived its driver would skew the next run's CPU: each one still
        # there under the title it had (not a new process that reused its pid) is killed.
        for pid, name in left.items():
            if name and title(pid) == name:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
        return self.process.returncode


def serve_file(config: Path, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Serve config file's document; ARGS, when given, replace its application's args."""
    document: dict[str, Any] = yaml.safe_load(config.read_text())
    if args is not None:
        document["applications"][0]["args"] = args
    return document


def start(tree: Path, document: dict[str, Any], folder: Path, timeout_s: float = 420) -> ServedTree:
    """`visionserve serve` of DOCUMENT from TREE on free ports; returns once /readyz answers 200
    and every Ray worker runs the tree's code."""
    tree = tree.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    imported_from(tree, folder)
    config_file = folder / "serve.yaml"
    config_file.write_text(yaml.safe_dump(document, sort_keys=False))
    port = free_port()
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "visionserve.cli", "serve", str(config_file), "--no-dashboard"),
            *("--port", str(port), "--grpc-port", str(free_port()), "--metrics-port", str(free_port())),
        ],
        cwd=tree,
        env=environment(tree, folder),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # nothing it starts outlives it
    )
    served = ServedTree(tree, process, folder, port, log)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{served.url}/readyz", timeout=10).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            served.stop()
            raise RuntimeError(f"{tree}: visionserve serve did not start:\n{served.output()}")
        time.sleep(1)
    served.check_replicas()
    return served
