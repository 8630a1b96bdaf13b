"""What metrics cost the serving path: the same rows with metrics on and off, in one run.

One local Ray; the application is deployed with ``metrics.enabled`` true, then false, then
true again (A-B-A, so that drift during the run shows as the gap between the two A runs), and
each time wrk drives classify at 1 and 16 connections, classify with 8 images per request,
detect and segment. Reported per row: requests/s, p50/p99 and server CPU per request, and the
ratio of metrics-on to metrics-off. Writes load_tests/results/metrics.json.

    load_tests/install-tools
    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_metrics.py
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs
import wrk
from bench_serving import CLASSIFIER, CONFIG, DETECTOR, ROOT, SEGMENTER, _free_port, _request

ROWS = [
    ("classify", [_request(CLASSIFIER)], 1),
    ("classify", [_request(CLASSIFIER)], 16),
    ("classify x8", [_request(CLASSIFIER, 8)], 16),
    ("detect", [_request(DETECTOR)], 16),
    ("segment", [_request(SEGMENTER)], 16),
]


def measure(url: str, seconds: float) -> list[dict[str, Any]]:
    rows = []
    for name, workload, connections in ROWS:
        wrk.run(url, workload, connections=4, seconds=2)  # warm this path
        cpu_before = procs.cpu_seconds(list(procs.ray_workers()))
        result = wrk.run(url, workload, connections=connections, seconds=seconds)
        cpu = procs.cpu_seconds(list(procs.ray_workers())) - cpu_before
        row = {
            "workload": name,
            **result,
            "server_cpu_ms_per_request": round(1000 * cpu / max(result["requests"], 1), 2),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _compare(on: list[list[dict[str, Any]]], off: list[dict[str, Any]]) -> list[dict[str, Any]]:
    compared = []
    for index, row_off in enumerate(off):
        rows_on = [run[index] for run in on]
        mean = {
            key: sum(r[key] for r in rows_on) / len(rows_on)
            for key in ("requests_per_s", "p50_ms", "p99_ms", "server_cpu_ms_per_request")
        }
        compared.append(
            {
                "workload": row_off["workload"],
                "connections": row_off["connections"],
                "requests_per_s": {
                    "on": [r["requests_per_s"] for r in rows_on],
                    "off": row_off["requests_per_s"],
                },
                "p50_ms": {"on": [r["p50_ms"] for r in rows_on], "off": row_off["p50_ms"]},
                "server_cpu_ms_per_request": {
                    "on": [r["server_cpu_ms_per_request"] for r in rows_on],
                    "off": row_off["server_cpu_ms_per_request"],
                },
                "throughput_on_over_off": round(mean["requests_per_s"] / row_off["requests_per_s"], 3),
                "p50_on_minus_off_ms": round(mean["p50_ms"] - row_off["p50_ms"], 2),
                "cpu_on_minus_off_ms": round(
                    mean["server_cpu_ms_per_request"] - row_off["server_cpu_ms_per_request"], 2
                ),
                # How far the two metrics-on runs are apart: differences below it are noise.
                "drift_between_on_runs": round(
                    abs(rows_on[0]["requests_per_s"] - rows_on[-1]["requests_per_s"])
                    / row_off["requests_per_s"],
                    3,
                ),
            }
        )
    return compared


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "metrics.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    wrk.require_wrk()
    from visionserve.config import MetricsConfig, load_serve_file, parse_service_config
    from visionserve.local import deploy_app, start_local

    config = parse_service_config(load_serve_file(CONFIG).args)
    variants = {
        enabled: config.model_copy(update={"metrics": MetricsConfig(enabled=enabled)})
        for enabled in (True, False)
    }
    service = start_local(
        variants[True], port=_free_port(), grpc_port=None, metrics_port=0, include_dashboard=False
    )
    runs: dict[str, Any] = {"on": [], "off": None}
    try:
        for enabled in (True, False, True):
            # A new ingress replica takes the next free port of the range (a released one is
            # held back for a while), hence the port of each deployment.
            port = deploy_app(variants[enabled]) or service.port
            deployed = dataclasses.replace(service, port=port)
            deployed.wait_ready()
            print(f"metrics {'on' if enabled else 'off'}", flush=True)
            rows = measure(deployed.url, args.seconds)
            if enabled:
                runs["on"].append(rows)
            else:
                runs["off"] = rows
    finally:
        service.stop()
    report = {
        "benchmark": "metrics",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "seconds_per_row": args.seconds,
        "order": ["on", "off", "on"],
        "runs": runs,
        "compared": _compare(runs["on"], runs["off"]),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["compared"], indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
