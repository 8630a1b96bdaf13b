"""The service's processes on this machine, read from /proc: memory and CPU per replica."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def ray_workers() -> dict[int, str]:
    """pid -> process title ("ray::ServeReplica:APP:DEPLOYMENT", "ray::ProxyActor", ...)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if title.startswith("ray::"):
            found[int(entry.name)] = title.split()[0]
    return found


def replicas(app: str) -> dict[str, int]:
    """Deployment name -> pid of its (first) replica in the application."""
    prefix = f"ray::ServeReplica:{app}:"
    return {title[len(prefix) :]: pid for pid, title in ray_workers().items() if title.startswith(prefix)}


def with_command_line(fragment: str) -> list[int]:
    """Processes whose command line contains FRAGMENT (other than this one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fragment in command:
            found.append(int(entry.name))
    return found


def rss_bytes(pid: int) -> int:
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * _PAGE


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (processes that exited count as 0)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def machine() -> dict[str, object]:
    """What a benchmark's JSON says about the machine it ran on."""
    import platform

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
