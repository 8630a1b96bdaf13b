"""Seconds per explanation of the default classifier, in-process (no Ray, no HTTP), as the
explainer ran them before (fp32, 32 inputs per forward pass, weights contiguous) and as it
runs them now (bf16 autocast for the methods whose maps it keeps, where the CPU computes bf16
natively; 8 inputs per pass; weights channels-last), in one run, with the Pearson correlation
of the two maps. Every request is the service's default one for the method (overlay included,
fidelity off), on real photos.

Writes JSON (default load_tests/results/explain_speed.json).

    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_explain_speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "serve" / "local.yaml"
IMAGES = Path(os.environ.get("VISIONSERVE_TEST_IMAGES", ROOT.parent / "shared" / "images"))
PHOTOS = ("cat_and_dog.png", "chelsea.png")
METHODS = {"gradcam": 10, "rise": 1, "occlusion": 1, "integrated_gradients": 1, "scorecam": 1}
"""Method -> timed runs per photo and setting (after one warm-up for the fast ones)."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "explain_speed.json")
    args = parser.parse_args()

    from visionserve.config import load_serve_file, parse_service_config
    from visionserve.deployments.explainer import explanation_config
    from visionserve.engine import ModelEngine
    from visionserve.explain.service import ExplainableModel
    from visionserve.runtime.openvino_runner import cpu_capabilities
    from visionserve.settings import Settings
    from visionserve_client.visualize import floatmap_to_numpy

    settings = Settings.from_env()
    config = parse_service_config(load_serve_file(CONFIG).args)
    torch.set_num_threads(config.models[0].runtime.threads)
    served = explanation_config(config.models[0])
    as_before = served.model_copy(
        update={"runtime": served.runtime.model_copy(update={"channels_last": False})}
    )
    engines = {
        name: ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
        for name, model in (("before", as_before), ("now", served))
    }
    settings_ = {
        "before": (ExplainableModel(engines["before"], bf16=False), {"batch_size": 32}),
        "now": (ExplainableModel(engines["now"], bf16=config.explainer.bf16), {}),
    }
    rows: dict[str, Any] = {}
    for method, runs in METHODS.items():
        row: dict[str, Any] = {}
        maps: dict[str, list[np.ndarray]] = {}
        for name, (model, extra) in settings_.items():
            seconds = []
            for photo in PHOTOS:
                data = (IMAGES / photo).read_bytes()
                params = {"methods": [method], "steps": 32, **extra}
                if runs > 1:
                    model.explain(data, dict(params), max_pixels=10**8, max_passes=10**6)
                for _ in range(runs):
                    started = time.perf_counter()
                    result = model.explain(data, dict(params), max_pixels=10**8, max_passes=10**6)
                    seconds.append(time.perf_counter() - started)
                explanation = result.explanations[0]
                maps.setdefault(name, []).append(floatmap_to_numpy(explanation.raw).ravel())
                row[f"{name}_precision"] = explanation.params.get("precision", "fp32")
            row[f"{name}_median_s"] = round(statistics.median(seconds), 3)
        row["speedup"] = round(row["before_median_s"] / row["now_median_s"], 2)
        row["min_pearson"] = round(
            min(float(np.corrcoef(a, b)[0, 1]) for a, b in zip(maps["before"], maps["now"], strict=True)), 5
        )
        rows[method] = row
        print(method, row, flush=True)
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "bf16_native": "BF16" in cpu_capabilities(),
        "threads": torch.get_num_threads(),
        "photos": list(PHOTOS),
        "methods": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
