"""Throughput of the default config: the bare in-process pipeline vs the served one.

Writes JSON (default load_tests/results/foundation.json). Every served figure is also given as
a ratio to the bare pipeline of the same model measured in the same run, since absolute
numbers drift between runs on a shared machine; one-image classify rows also as a ratio to
LitServe (test-only dependency) serving the same engine with its own batching.

    .venv/bin/python load_tests/bench_foundation.py [--seconds 10] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "serve" / "local.yaml"
IMAGES = Path(os.environ.get("VISIONSERVE_TEST_IMAGES", ROOT.parent / "shared" / "images"))
WORKLOAD = {
    "classification": ("/v1/classify", "chelsea.png"),
    "detection": ("/v1/detect", "dog_bike_car.jpg"),
}


def bare_pipeline(seconds: float) -> dict[str, dict[str, float]]:
    """Images/s of decode + preprocess + model + postprocess in this process, batch 1 and 8."""
    from visionserve.config import load_serve_file, parse_service_config
    from visionserve.engine import ModelEngine
    from visionserve.settings import Settings

    settings = Settings.from_env()
    config = parse_service_config(load_serve_file(CONFIG).args)
    results: dict[str, dict[str, float]] = {}
    for model in (m for m in config.models if m.task in WORKLOAD):
        engine = ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
        data = (IMAGES / WORKLOAD[model.task][1]).read_bytes()
        params = engine.parse_params({})
        for batch in (1, model.batching.max_batch_size):
            done, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds / 2:
                items = [
                    engine.prepare(data, max_pixels=config.limits.max_image_pixels) for _ in range(batch)
                ]
                engine.infer(items, [params] * batch)
                done += batch
            results.setdefault(model.name, {})[f"batch_{batch}_images_per_s"] = round(
                done / (time.perf_counter() - started), 2
            )
        results[model.name]["best_images_per_s"] = max(results[model.name].values())
    return results


def measure_litserve(seconds: float, connections: list[int]) -> list[dict[str, object]]:
    """LitServe (batching 8, 10 ms) serving the same classifier engine, one image per request."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "load_tests" / "litserve_app.py"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    rows: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        for count in connections:
            output = subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "load_tests" / "loadgen.py"),
                    f"http://127.0.0.1:{port}/v1/classify",
                    str(IMAGES / "chelsea.png"),
                    "--connections",
                    str(count),
                    "--seconds",
                    str(seconds),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append({"server": "litserve", "model": "efficientnet-lite0", **json.loads(output.stdout)})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", default="1,4,16")
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "foundation.json")
    args = parser.parse_args()

    bare = bare_pipeline(args.seconds)
    from visionserve.local import start_local

    service = start_local(CONFIG, port=_free_port(), include_dashboard=False)
    served = []
    try:
        service.wait_ready()
        from visionserve.config import load_serve_file, parse_service_config

        for model in parse_service_config(load_serve_file(CONFIG).args).models:
            if model.task not in WORKLOAD:
                continue
            path, image = WORKLOAD[model.task]
            for connections in (int(c) for c in args.connections.split(",")):
                for per_request in (1, 8):
                    output = subprocess.run(
                        [
                            sys.executable,
                            str(ROOT / "load_tests" / "loadgen.py"),
                            service.url + path,
                            str(IMAGES / image),
                            "--connections",
                            str(connections),
                            "--seconds",
                            str(args.seconds),
                            "--images-per-request",
                            str(per_request),
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    row = {"model": model.name, **json.loads(output.stdout)}
                    row["ratio_to_bare"] = round(
                        row["images_per_s"] / bare[model.name]["best_images_per_s"], 3
                    )
                    served.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        service.stop()
    litserve = measure_litserve(args.seconds, [int(c) for c in args.connections.split(",")])
    for row in served:
        match = next(
            (
                r
                for r in litserve
                if r["connections"] == row["connections"]
                and row["model"] == "efficientnet-lite0"
                and row["images_per_request"] == 1
            ),
            None,
        )
        if match and match["requests_per_s"]:
            row["ratio_to_litserve"] = round(row["requests_per_s"] / match["requests_per_s"], 3)
    report = {
        "benchmark": "foundation",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "bare_pipeline": bare,
        "served": served,
        "litserve": litserve,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
