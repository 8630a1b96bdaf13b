"""The image path of one classify request, in-process: JPEG decode and preprocessing of the
default classifier, our decoder (libjpeg-turbo through simplejpeg at M/8 DCT scales) against
Pillow's (draft at 1/2, 1/4, 1/8), on the sample JPEGs and on re-encodings at 1920x1080 and
4000x3000. Medians over repeated runs, one thread; the same run times both.

Writes JSON (default load_tests/results/decode.json).

    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_decode.py
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "serve" / "local.yaml"
IMAGES = Path(os.environ.get("VISIONSERVE_TEST_IMAGES", ROOT.parent / "shared" / "images"))


def _pillow_decode(data: bytes, needed: tuple[int, int]) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    image.draft("RGB", (2 * needed[0], 2 * needed[1]))
    return np.asarray(image.convert("RGB"))


def _median_ms(run: Any, repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return round(float(np.median(times)) * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "decode.json")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    from visionserve.config import load_serve_file, parse_service_config
    from visionserve.imaging import DecodedImage, decode
    from visionserve.tasks import task_for

    cfg = parse_service_config(load_serve_file(CONFIG).args).models[0]
    task = task_for(cfg, ["x"] * 1000)
    inputs = {p.name: p.read_bytes() for p in sorted(IMAGES.glob("*.jpg"))}
    sample = Image.open(IMAGES / "dog_bike_car.jpg").convert("RGB")
    for size in ((1920, 1080), (4000, 3000)):
        buffer = io.BytesIO()
        sample.resize(size, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
        inputs[f"{size[0]}x{size[1]}"] = buffer.getvalue()
    rows = {}
    for name, data in inputs.items():
        width, height = Image.open(io.BytesIO(data)).size
        needed = task.decode_size(width, height)
        ours = decode(data, max_pixels=10**8, needed=task.decode_size)
        theirs = _pillow_decode(data, needed)
        prepared_ours = task.preprocess(ours).tensor
        prepared_theirs = task.preprocess(DecodedImage(theirs, "JPEG", (width, height))).tensor
        rows[name] = {
            "bytes": len(data),
            "size": [width, height],
            "decoded_ours": list(ours.pixels.shape[:2][::-1]),
            "decoded_pillow": list(theirs.shape[:2][::-1]),
            "decode_ms_ours": _median_ms(
                lambda d=data: decode(d, max_pixels=10**8, needed=task.decode_size), args.repeats
            ),
            "decode_ms_pillow": _median_ms(lambda d=data, n=needed: _pillow_decode(d, n), args.repeats),
            "preprocess_ms": _median_ms(lambda image=ours: task.preprocess(image), args.repeats),
            "model_input_max_abs_difference": round(float(np.abs(prepared_ours - prepared_theirs).max()), 4),
            "model_input_mean_abs_difference": round(
                float(np.abs(prepared_ours - prepared_theirs).mean()), 5
            ),
        }
        print(name, rows[name], flush=True)
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cores": os.cpu_count(),
        "images": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
