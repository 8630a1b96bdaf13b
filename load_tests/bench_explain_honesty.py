"""What explanations tell an auditor, measured on every sample photo (no Ray, no HTTP):

- Integrated Gradients' completeness gap at a fixed 32 steps and with the steps it chooses
  (refined until under 5% or the budget), with the steps and the time each took;
- D-RISE (mean removed) and occlusion on a detected box: the box's share of the map's positive
  mass over its share of the image's area (1.0: the map says nothing about the box);
- the exact map at the model's input against the served map resampled back to it (Pearson).

Writes JSON (default load_tests/results/explain_honesty.json).

    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_explain_honesty.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "serve" / "local.yaml"
IMAGES = Path(os.environ.get("VISIONSERVE_TEST_IMAGES", ROOT.parent / "shared" / "images"))
PHOTOS = ("chelsea.png", "coffee.png", "astronaut.png", "dog_bike_car.jpg", "flower.jpg", "rocket.jpg",
          "grace_hopper.jpg", "china.jpg")  # fmt: skip
DETECTED = ("dog_bike_car.jpg", "cat_and_dog.png", "motorcycle_left.png")


def _box_share(raw: np.ndarray, box: Any) -> float:
    x1, y1, x2, y2 = (round(v) for v in box)
    positive = np.clip(raw, 0, None)
    inside = positive[y1:y2, x1:x2].sum() / max(float(positive.sum()), 1e-12)
    return float(inside / ((x2 - x1) * (y2 - y1) / raw.size))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "explain_honesty.json")
    args = parser.parse_args()

    from visionserve.config import load_serve_file, parse_service_config
    from visionserve.engine import ModelEngine
    from visionserve.explain.service import ExplainableModel
    from visionserve.settings import Settings
    from visionserve_client.visualize import floatmap_to_numpy

    settings = Settings.from_env()
    config = parse_service_config(load_serve_file(CONFIG).args)
    classifier_cfg = config.models[0]
    classifier_cfg = classifier_cfg.model_copy(
        update={"runtime": classifier_cfg.runtime.model_copy(update={"backend": "torch"})}
    )
    load = lambda cfg: ExplainableModel(  # noqa: E731
        ModelEngine(cfg, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
    )
    classifier = load(classifier_cfg)
    detector = load(next(m for m in config.models if m.task == "detection"))

    def explain(model: Any, photo: str, **params: Any) -> tuple[Any, float]:
        started = time.perf_counter()
        result = model.explain((IMAGES / photo).read_bytes(), params, max_pixels=10**8, max_passes=5000)
        return result, time.perf_counter() - started

    completeness = {}
    for photo in PHOTOS:
        fixed, fixed_s = explain(classifier, photo, methods=["integrated_gradients"], steps=32)
        chosen, chosen_s = explain(classifier, photo, methods=["integrated_gradients"])
        a, b = fixed.explanations[0].params, chosen.explanations[0].params
        completeness[photo] = {
            "class": fixed.target.label,
            "gap_at_32_steps": a["completeness_gap"],
            "seconds_at_32_steps": round(fixed_s, 2),
            "chosen_steps": b["steps"],
            "gap_at_chosen_steps": b["completeness_gap"],
            "steps_chosen": b["steps_chosen"],
            "seconds_at_chosen_steps": round(chosen_s, 2),
        }
        print(photo, completeness[photo], flush=True)

    boxes = {}
    for photo in DETECTED:
        rise, _ = explain(detector, photo, methods=["rise"], target_box_index=0)
        occlusion, _ = explain(detector, photo, methods=["occlusion"], target_box_index=0, stride=16)
        box = rise.target.box
        boxes[photo] = {
            "box": [round(v) for v in box or ()],
            "label": rise.target.label,
            "drise_mass_over_area": round(_box_share(floatmap_to_numpy(rise.explanations[0].raw), box), 2),
            "occlusion_mass_over_area": round(
                _box_share(floatmap_to_numpy(occlusion.explanations[0].raw), box), 2
            ),
        }
        print(photo, boxes[photo], flush=True)

    exact = {}
    for photo in PHOTOS[:4]:
        result, _ = explain(classifier, photo, methods=["gradcam", "saliency"], input_map=True)
        x1, y1, x2, y2 = result.geometry.image_box
        side = result.geometry.input_size[0]
        for explanation in result.explanations:
            at_input = floatmap_to_numpy(explanation.input_map)
            crop = torch.from_numpy(floatmap_to_numpy(explanation.raw)[y1:y2, x1:x2].copy())[None, None]
            back = torch.nn.functional.interpolate(crop, size=(side, side), mode="bilinear")
            pearson = float(np.corrcoef(at_input.ravel(), back[0, 0].numpy().ravel())[0, 1])
            exact[f"{photo} {explanation.method}"] = round(pearson, 4)
        print(photo, {k: v for k, v in exact.items() if k.startswith(photo)}, flush=True)

    report = {
        "benchmark": "explain_honesty",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "integrated_gradients_completeness": completeness,
        "box_mass_over_area": boxes,
        "served_map_resampled_to_input_pearson": exact,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
