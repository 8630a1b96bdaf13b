"""Two applications on one local Ray, identical but for one setting, run side by side.

Each row runs on one, then on the other, in alternating order, for several rounds, so that
both are measured under the same conditions. Reported per row: requests/s, p50 and server
CPU per request of each run, and the medians' ratio (on / off). These 2-core machines drift
by 5-10% within a run; the spread of each variant's runs is in the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs
import wrk
from bench_serving import _free_port

OFF_APP = "off"


def _run(url: str, workload: list[wrk.Request], connections: int, seconds: float) -> dict[str, Any]:
    cpu_before = procs.cpu_seconds(list(procs.ray_workers()))
    result = wrk.run(url, workload, connections=connections, seconds=seconds)
    cpu = procs.cpu_seconds(list(procs.ray_workers())) - cpu_before
    return {**result, "server_cpu_ms_per_request": round(1000 * cpu / max(result["requests"], 1), 2)}


def _wait_ready(url: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while httpx.get(f"{url}/readyz", timeout=10).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready after {timeout_s:g}s")
        time.sleep(0.5)


def _summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def median(variant: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[variant]))

    figures = {
        key: {variant: [r[key] for r in runs[variant]] for variant in ("on", "off")}
        for key in ("requests_per_s", "p50_ms", "server_cpu_ms_per_request")
    }
    # Each round runs both variants back to back: their ratio cancels the machine's slow drift.
    paired = [a["requests_per_s"] / b["requests_per_s"] for a, b in zip(runs["on"], runs["off"], strict=True)]
    return {
        **figures,
        "throughput_on_over_off": round(median("on", "requests_per_s") / median("off", "requests_per_s"), 3),
        "throughput_on_over_off_paired": round(float(statistics.median(paired)), 3),
        "paired_ratios": [round(r, 3) for r in paired],
        "p50_on_minus_off_ms": round(median("on", "p50_ms") - median("off", "p50_ms"), 2),
        "cpu_on_minus_off_ms_per_request": round(
            median("on", "server_cpu_ms_per_request") - median("off", "server_cpu_ms_per_request"), 2
        ),
    }


def arguments(default_out: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--rows", type=int, nargs="*", default=None, help="indexes into the rows (default all)"
    )
    parser.add_argument("--out", type=Path, default=default_out)
    return parser.parse_args()


def compare(
    benchmark: str,
    on: Any,
    off: Any,
    rows: list[tuple[str, list[wrk.Request], int]],
    args: argparse.Namespace,
    after: Callable[[str], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Serve ``on`` (the default application) and ``off`` (under /off), run the rows, write JSON;
    ``after`` adds what it reads from the ``on`` application's URL once the rows have run."""
    from visionserve.local import deploy_app, start_local

    args.out.parent.mkdir(parents=True, exist_ok=True)
    wrk.require_wrk()
    # Logical CPUs only, so that both applications fit: each replica's threads are its config's.
    service = start_local(on, port=_free_port(), metrics_port=0, include_dashboard=False, num_cpus=8)
    prefix = f"/{OFF_APP}"
    results: list[dict[str, Any]] = []
    finally_read: dict[str, Any] | None = None
    try:
        off_port = deploy_app(off, name=OFF_APP, route_prefix=prefix)
        urls = {"on": service.url, "off": f"http://{service.host}:{off_port or service.port}"}
        service.wait_ready()
        _wait_ready(urls["off"] + prefix)
        for name, workload, connections in [rows[i] for i in args.rows] if args.rows else rows:
            variants = {
                "on": workload,
                "off": [dataclasses.replace(r, path=prefix + r.path) for r in workload],
            }
            for variant in ("on", "off"):
                wrk.run(urls[variant], variants[variant], connections=4, seconds=2)  # warm this path
            runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
            for round_ in range(args.rounds):
                for variant in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
                    run = _run(urls[variant], variants[variant], connections, args.seconds)
                    runs[variant].append(run)
                    print(variant, json.dumps({k: run[k] for k in ("requests_per_s", "p50_ms")}), flush=True)
            row = {"workload": name, "connections": connections, **_summary(runs), "runs": runs}
            results.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
        finally_read = after(service.url) if after is not None else None
    finally:
        service.stop()
    report = {
        "benchmark": benchmark,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": procs.machine(),
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "rows": results,
        **({"after": finally_read} if finally_read is not None else {}),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return report
