"""Every backend and precision of the default config's models, in-process (no Ray, no HTTP):
images per second at batch 1 and at the model's max batch size, and the accuracy gate's
verdict against onnxruntime fp32 on crops and flips of every sample photo, as
``runtime.backend: auto`` would judge them. Also what auto serves for each model.

Writes JSON (default load_tests/results/backends.json).

    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_backends.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "serve" / "local.yaml"
IMAGES = Path(os.environ.get("VISIONSERVE_TEST_IMAGES", ROOT.parent / "shared" / "images"))
CANDIDATES = ("onnxruntime/fp32", "openvino/fp32", "openvino/bf16", "openvino/int8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "backends.json")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed per candidate and batch size")
    args = parser.parse_args()

    from visionserve import backend_choice
    from visionserve.config import PIXEL_CEILING, load_serve_file, parse_service_config
    from visionserve.engine import ModelEngine
    from visionserve.runtime.openvino_runner import cpu_capabilities, cpu_name
    from visionserve.settings import Settings
    from visionserve.tasks.agreement import judge

    settings = Settings.from_env()
    config = parse_service_config(load_serve_file(CONFIG).args)
    photos = backend_choice.photo_files(IMAGES)
    cache = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    models: dict[str, Any] = {}
    for cfg in config.models:
        engine = ModelEngine(cfg, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
        graph = next((settings.cache_dir / "onnx").glob(f"{cfg.name}-{engine.version[:16]}-*.onnx"), None)
        if graph is None:  # an ONNX file source
            from visionserve.registry.files import resolve_file

            graph = resolve_file(
                cfg.source.weights, model_dirs=list(settings.model_dirs), cache_dir=settings.cache_dir
            )  # type: ignore[arg-type]
        inputs = backend_choice.gate_inputs(engine.task, photos, PIXEL_CEILING)
        batch = cfg.batching.max_batch_size
        expected = backend_choice.run_all(engine.runner, engine.task, inputs, batch)
        int8 = cache / f"{cfg.name}-int8.xml"
        rows = []
        for name in CANDIDATES:
            backend, precision = name.split("/")
            if precision == "bf16" and "BF16" not in cpu_capabilities():
                rows.append({"backend": backend, "precision": precision, "skipped": "no AMX or AVX-512 BF16"})
                continue
            started = time.perf_counter()
            # int8 as auto judges it: calibrated on every other photo, judged on the rest
            everything = (list(range(len(inputs))), list(range(len(inputs))))
            calibration, judged = (
                backend_choice.calibration_split(len(inputs)) if precision == "int8" else everything
            )
            runner = backend_choice._build(
                name,
                cfg,
                graph,
                engine.runner,
                int8,
                [inputs[i] for i in calibration] if precision == "int8" else [],
            )
            built = time.perf_counter() - started
            shown = [inputs[i] for i in judged]
            verdict = judge(
                engine.task.name,
                [expected[i] for i in judged],
                backend_choice.run_all(runner, engine.task, shown, batch),
            )
            rows.append(
                {
                    "backend": backend,
                    "precision": precision,
                    "build_seconds": round(built, 2),
                    "images_per_second_batch_1": round(
                        backend_choice.rate_at(runner, inputs, 1, args.seconds), 1
                    ),
                    f"images_per_second_batch_{batch}": round(
                        backend_choice.rate_at(runner, inputs, batch, args.seconds), 1
                    ),
                    "gate_passed": verdict.passed,
                    "gate_figure": round(verdict.score, 4),
                    "gate_detail": verdict.detail,
                }
            )
            print(cfg.name, rows[-1], flush=True)
        auto_cfg = cfg.model_copy(
            update={
                "runtime": cfg.runtime.model_copy(
                    update={
                        "backend": "auto",
                        "gate_images": str(IMAGES),
                        "auto_precisions": ("fp32", "bf16", "int8"),
                    }
                )
            }
        )
        started = time.perf_counter()
        auto = ModelEngine(auto_cfg, model_dirs=settings.model_dirs, cache_dir=cache)
        assert auto.runtime is not None
        models[cfg.name] = {
            "task": cfg.task,
            "gate_inputs": len(inputs),
            "candidates": rows,
            "auto_serves": f"{auto.runtime.backend} {auto.runtime.precision}",
            "auto_load_seconds": round(time.perf_counter() - started, 1),
        }
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpu": cpu_name(),
            "capabilities": cpu_capabilities(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "threads": {m.name: m.runtime.threads for m in config.models},
        "photos": len(photos),
        "models": models,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
