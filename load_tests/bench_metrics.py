"""What metrics cost the serving path: the same rows with metrics on and off, side by side.

Two applications on one local Ray, identical but for ``metrics.enabled`` (explainer and
pipelines left out: no row uses them), so that both are measured under the same conditions:
each row runs on one, then on the other, in alternating order, for several rounds. Rows:
classify at 1 and 16 connections, classify with 8 images per request, detect and segment
at 16. Reported per row: requests/s, p50 and server CPU per request of each run, and the
medians' ratio (on / off). These 2-core machines drift by 5-10% within a run; the spread of
each variant's runs is in the JSON. Writes load_tests/results/metrics.json.

    load_tests/install-tools
    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_metrics.py
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

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
OFF_PREFIX = "/nometrics"


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
    return {
        **figures,
        "throughput_on_over_off": round(median("on", "requests_per_s") / median("off", "requests_per_s"), 3),
        "p50_on_minus_off_ms": round(median("on", "p50_ms") - median("off", "p50_ms"), 2),
        "cpu_on_minus_off_ms_per_request": round(
            median("on", "server_cpu_ms_per_request") - median("off", "server_cpu_ms_per_request"), 2
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, nargs="*", default=None, help="indexes into ROWS (default all)")
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "metrics.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    wrk.require_wrk()
    from visionserve.config import MetricsConfig, load_serve_file, parse_service_config
    from visionserve.local import deploy_app, start_local

    config = parse_service_config(load_serve_file(CONFIG).args)
    config = config.model_copy(
        update={"pipelines": [], "explainer": config.explainer.model_copy(update={"enabled": False})}
    )
    # Logical CPUs only, so that both applications fit: each replica's threads are its config's.
    service = start_local(
        config.model_copy(update={"metrics": MetricsConfig(enabled=True)}),
        port=_free_port(),
        metrics_port=0,
        include_dashboard=False,
        num_cpus=8,
    )
    results: list[dict[str, Any]] = []
    try:
        off_port = deploy_app(
            config.model_copy(update={"metrics": MetricsConfig(enabled=False)}),
            name="nometrics",
            route_prefix=OFF_PREFIX,
        )
        urls = {"on": service.url, "off": f"http://{service.host}:{off_port or service.port}"}
        service.wait_ready()
        _wait_ready(urls["off"] + OFF_PREFIX)
        for name, workload, connections in [ROWS[i] for i in args.rows] if args.rows else ROWS:
            variants = {
                "on": workload,
                "off": [dataclasses.replace(r, path=OFF_PREFIX + r.path) for r in workload],
            }
            for variant in ("on", "off"):
                wrk.run(urls[variant], variants[variant], connections=4, seconds=2)  # warm this path
            runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
            for round_ in range(args.rounds):
                order = ("on", "off") if round_ % 2 == 0 else ("off", "on")
                for variant in order:
                    run = _run(urls[variant], variants[variant], connections, args.seconds)
                    runs[variant].append(run)
                    print(variant, json.dumps({k: run[k] for k in ("requests_per_s", "p50_ms")}), flush=True)
            row = {"workload": name, "connections": connections, **_summary(runs), "runs": runs}
            results.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
    finally:
        service.stop()
    report = {
        "benchmark": "metrics",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": procs.machine(),
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "rows": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
