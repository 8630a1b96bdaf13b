"""Drive a server with wrk (C, its own process: the load costs the server's cores little).

A workload is a list of weighted requests, each a prepared multipart or JSON body; wrk replays
them round-robin over C connections (closed loop) and its Lua script reports JSON.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SCRIPT = Path(__file__).with_name("requests.lua")


@dataclass(frozen=True)
class Request:
    path: str
    content_type: str
    body: bytes
    images: int = 1
    weight: int = 1


def multipart(path: str, images: list[bytes], weight: int = 1, **fields: str) -> Request:
    """The exact body httpx would send for ``files=images, data=fields``."""
    built = httpx.Request(
        "POST",
        f"http://localhost{path}",
        files=[("images", (f"image{i}", data)) for i, data in enumerate(images)],
        data=fields,
    )
    return Request(path, built.headers["content-type"], built.read(), images=len(images), weight=weight)


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: run load_tests/install-tools (apt-get install wrk)")
    return found


def run(
    base_url: str,
    workload: list[Request],
    *,
    connections: int,
    seconds: float,
    timeout_s: float = 120,
) -> dict[str, Any]:
    """One wrk run; adds throughput in requests and images, and the CPU wrk itself used."""
    with tempfile.TemporaryDirectory(prefix="visionserve-wrk-") as folder:
        manifest = Path(folder) / "requests.tsv"
        lines = []
        for index, request in enumerate(workload):
            body = Path(folder) / f"body{index}"
            body.write_bytes(request.body)
            lines.append(f"{request.weight}\tPOST\t{request.path}\t{request.content_type}\t{body}")
        manifest.write_text("\n".join(lines) + "\n")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        completed = subprocess.run(
            [
                require_wrk(),
                "-t1",
                f"-c{connections}",
                f"-d{seconds:g}s",
                f"--timeout={timeout_s:g}s",
                "-s",
                str(SCRIPT),
                base_url,
            ],
            env={"REQUESTS": str(manifest), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed on {base_url}: {completed.stderr or completed.stdout}")
    line = next(x for x in completed.stdout.splitlines() if x.startswith("{"))
    result: dict[str, Any] = json.loads(line)
    weights = sum(r.weight for r in workload)
    images_per_request = sum(r.images * r.weight for r in workload) / weights
    ok = result["requests"] - result["http_errors"]
    result["connections"] = connections
    result["requests_per_s"] = round(ok / result["duration_s"], 2)
    result["images_per_request"] = images_per_request
    result["images_per_s"] = round(ok * images_per_request / result["duration_s"], 2)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    result["loadgen_cpu_ms_per_request"] = round(1000 * cpu / max(result["requests"], 1), 3)
    return result
