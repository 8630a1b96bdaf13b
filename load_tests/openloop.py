"""Open-loop load: requests sent at a fixed rate whether or not earlier ones have answered.

wrk (closed loop) sends the next request only when one comes back, so an overloaded server
slows its own load down; here arrivals keep coming, as from many independent callers, which
is what overload means. Each request is timed from when it was due (no coordinated omission)
and recorded with its status and whether a 503 carried Retry-After.

Run as its own process (``python openloop.py SPEC.json``): its event loop must not share a
core's time slices with the benchmark's own threads. It prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MAX_CONNECTIONS = 2048


@dataclass
class Outcome:
    due_s: float  # since the start of the run
    latency_s: float
    status: int  # 0: no HTTP answer (connection refused, reset, timeout)
    retry_after: bool
    error: str = ""


class _Connections:
    """Keep-alive connections to one host, reused while idle, opened on demand."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.open_now = 0

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._idle:
            return self._idle.pop()
        self.opened += 1
        self.open_now += 1
        return await asyncio.open_connection(self._host, self._port)

    def give_back(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self._idle.append(conn)

    def drop(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.open_now -= 1
        conn[1].close()


async def _exchange(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], raw: bytes
) -> tuple[int, dict[str, str]]:
    reader, writer = conn
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:
        raise ValueError(f"answer {status} without content-length")
    await reader.readexactly(int(headers["content-length"]))
    return status, headers


async def _one(
    pool: _Connections, raw: bytes, due: float, start: float, timeout_s: float, out: list[Outcome]
) -> None:
    loop = asyncio.get_running_loop()
    conn = None
    try:
        async with asyncio.timeout(timeout_s):
            conn = await pool.take()
            status, headers = await _exchange(conn, raw)
        latency = loop.time() - due
        out.append(Outcome(due - start, latency, status, "retry-after" in headers))
        if headers.get("connection", "").lower() == "close":
            pool.drop(conn)
        else:
            pool.give_back(conn)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
        out.append(Outcome(due - start, loop.time() - due, 0, False, f"{type(exc).__name__}: {exc}"))
        if conn is not None:
            pool.drop(conn)


async def drive(
    url: str, requests: list[tuple[str, str, bytes]], rate: float, seconds: float, timeout_s: float
) -> dict[str, Any]:
    """Send ``rate`` requests a second for ``seconds``, cycling through (path, content type, body)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    raws = [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for path, content_type, body in requests
    ]
    pool = _Connections(host, port)
    loop = asyncio.get_running_loop()
    out: list[Outcome] = []
    tasks: set[asyncio.Task[None]] = set()
    start = loop.time() + 0.05
    total = int(rate * seconds)
    skipped = 0
    for index in range(total):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= MAX_CONNECTIONS:
            skipped += 1  # the generator's own limit: counted, never silently dropped
            continue
        task = loop.create_task(_one(pool, raws[index % len(raws)], due, start, timeout_s, out))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks)
    return {"outcomes": out, "skipped": skipped, "connections_opened": pool.opened}


def summarise(result: dict[str, Any], rate: float, seconds: float) -> dict[str, Any]:
    outcomes: list[Outcome] = result["outcomes"]

    def pct(values: list[float], q: float) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    by_status: dict[str, int] = {}
    for o in outcomes:
        by_status[str(o.status)] = by_status.get(str(o.status), 0) + 1
    ok = [o.latency_s for o in outcomes if o.status == 200]
    shed = [o for o in outcomes if o.status == 503]
    timeline: dict[int, dict[str, int]] = {}
    for o in outcomes:
        second = timeline.setdefault(int(o.due_s), {})
        second[str(o.status)] = second.get(str(o.status), 0) + 1
    errors: dict[str, int] = {}
    for o in outcomes:
        if o.error:
            errors[o.error[:120]] = errors.get(o.error[:120], 0) + 1
    return {
        "offered_rate": rate,
        "seconds": seconds,
        "sent": len(outcomes),
        "skipped_at_generator_limit": result["skipped"],
        "connections_opened": result["connections_opened"],
        "by_status": by_status,
        "ok_per_s": round(len(ok) / seconds, 2),
        "ok_p50_ms": pct(ok, 0.50),
        "ok_p90_ms": pct(ok, 0.90),
        "ok_p99_ms": pct(ok, 0.99),
        "ok_max_ms": pct(ok, 1.0),
        "shed_p50_ms": pct([o.latency_s for o in shed], 0.50),
        "shed_p99_ms": pct([o.latency_s for o in shed], 0.99),
        "shed_without_retry_after": sum(1 for o in shed if not o.retry_after),
        "connection_errors": by_status.get("0", 0),
        "errors": errors,
        "timeline": [timeline.get(s, {}) for s in range(int(seconds) + 1)],
    }


def run(
    base_url: str, workload: list[Any], *, rate: float, seconds: float, timeout_s: float = 30.0
) -> dict[str, Any]:
    """One open-loop run in a child process; WORKLOAD is wrk.Request-like (path, content_type, body)."""
    with tempfile.TemporaryDirectory(prefix="visionserve-openloop-") as folder:
        specs = []
        for index, request in enumerate(workload):
            body = Path(folder) / f"body{index}"
            body.write_bytes(request.body)
            specs.extend(
                [{"path": request.path, "content_type": request.content_type, "body_file": str(body)}]
                * request.weight
            )
        spec = Path(folder) / "spec.json"
        spec.write_text(
            json.dumps(
                {"url": base_url, "requests": specs, "rate": rate, "seconds": seconds, "timeout_s": timeout_s}
            )
        )
        completed = subprocess.run(
            [sys.executable, __file__, str(spec)], capture_output=True, text=True, check=False
        )
    if completed.returncode != 0:
        raise RuntimeError(f"open-loop generator failed: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    requests = [(r["path"], r["content_type"], Path(r["body_file"]).read_bytes()) for r in spec["requests"]]
    coro = drive(spec["url"], requests, spec["rate"], spec["seconds"], spec.get("timeout_s", 30.0))
    started = time.perf_counter()
    try:
        import uvloop

        result = uvloop.run(coro)
    except ImportError:  # plain asyncio costs more CPU per request, still correct
        result = asyncio.run(coro)
    summary = summarise(result, spec["rate"], spec["seconds"])
    summary["wall_s"] = round(time.perf_counter() - started, 2)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    summary["loadgen_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
