"""Cost of each explanation method on EfficientNet-Lite0 at 224x224, in forward+backward passes.

Every method's latency is divided by one forward+backward pass measured in the same run, so
the figures hold across machines better than seconds do. Also: occlusion with batched
perturbations vs one forward pass per patch, and the process's memory over 200 explanations.
Writes JSON (default load_tests/results/explain.json).

    .venv/bin/python load_tests/bench_explain.py [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "serve" / "local.yaml"
IMAGES = Path(os.environ.get("VISIONSERVE_TEST_IMAGES", ROOT.parent / "shared" / "images"))


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best(seconds: list[float]) -> float:
    return min(seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-requests", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "explain.json")
    args = parser.parse_args()

    from visionserve.config import load_serve_file, parse_service_config
    from visionserve.engine import ModelEngine
    from visionserve.explain.methods import METHODS, Options
    from visionserve.explain.service import ExplainableModel
    from visionserve.explain.targets import ClassLogit
    from visionserve.settings import Settings

    settings = Settings.from_env()
    config = parse_service_config(load_serve_file(CONFIG).args)
    engine = ModelEngine(config.models[0], model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
    module = engine.runner.module  # type: ignore[attr-defined]
    data = (IMAGES / "chelsea.png").read_bytes()
    x = torch.from_numpy(engine.prepare(data, max_pixels=10**8).tensor)[None]
    target = ClassLogit(281)

    def forward_backward() -> None:
        inputs = x.clone().requires_grad_(True)
        torch.autograd.grad(module(inputs)[0, 281], inputs)

    forward_backward()
    unit = []
    for _ in range(args.repeats * 3):
        started = time.perf_counter()
        forward_backward()
        unit.append(time.perf_counter() - started)
    unit_s = _best(unit)

    methods = {}
    for name, method in METHODS.items():
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            method.explain(module, x, target, None, Options())
            seconds.append(time.perf_counter() - started)
        methods[name] = {
            "seconds": round(_best(seconds), 4),
            "forward_backward_passes": round(_best(seconds) / unit_s, 2),
        }
        print(name, methods[name], flush=True)

    occlusion = {}
    for batch in (1, 32):
        started = time.perf_counter()
        METHODS["occlusion"].explain(module, x, target, None, Options(batch_size=batch))
        occlusion[f"batch_{batch}_seconds"] = round(time.perf_counter() - started, 3)
    occlusion["speedup_batched"] = round(occlusion["batch_1_seconds"] / occlusion["batch_32_seconds"], 2)
    print("occlusion", occlusion, flush=True)

    explainable = ExplainableModel(engine)
    request = {"methods": ["gradcam", "saliency"]}
    for _ in range(10):  # warm-up: allocator pools settle
        explainable.explain(data, request, max_pixels=10**8)
    before = _rss_mb()
    for _ in range(args.memory_requests):
        explainable.explain(data, request, max_pixels=10**8)
    after = _rss_mb()
    memory = {
        "requests": args.memory_requests,
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "growth_ratio": round(after / before, 4),
    }
    print("memory", memory, flush=True)

    report = {
        "benchmark": "explain",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "model": "efficientnet-lite0",
        "input": "224x224",
        "forward_backward_seconds": round(unit_s, 4),
        "methods": methods,
        "occlusion_batching": occlusion,
        "memory": memory,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
