"""What the GPU profile's parts do without the service: the references for load_tests/gpu_bench.py.

- the model alone (its compiled forward on a batch already on the device: no copies, no
  Python around it), at each batch size; the best is the reference every served row is
  divided by; the runner's own call (host copies in and out) beside it;
- the replica's code without Ray or HTTP: decode + preprocess in ``decode_threads`` threads
  while the previous batch runs, batches of ``max_batch_size``;
- JPEG decoding alone: nvJPEG batched (torchvision's list call), nvJPEG one image per call in
  threads (what the replica does), Pillow in threads, and decode + preprocess;
- Grad-CAM in this process, on the explainer's copy of the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import torch
from torchvision.io import decode_jpeg

from visionserve.config import ModelConfig
from visionserve.deployments.explainer import explanation_config
from visionserve.engine import ModelEngine
from visionserve.explain.service import ExplainableModel
from visionserve.imaging import decode
from visionserve.runtime.jpeg import decode_on_device
from visionserve.runtime.torch_runner import TorchRunner

MAX_PIXELS = 40_000_000


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _rate(step: Callable[[], int], seconds: float, device: str, warm: int = 2) -> float:
    """Images per second of ``step`` (which returns how many images it handled)."""
    for _ in range(warm):
        step()
    _sync(device)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        done += step()
    _sync(device)
    return round(done / (time.perf_counter() - started), 1)


def model_alone(engine: ModelEngine, photo: bytes, batches: list[int], seconds: float) -> dict[str, Any]:
    """The compiled forward on device-resident batches, and the runner's call from numpy."""
    runner = engine.runner
    assert isinstance(runner, TorchRunner), "the GPU profile's classifier is a torch model"
    item = engine.prepare(photo, max_pixels=MAX_PIXELS)
    figures: dict[str, Any] = {"on_device": {}, "from_host": {}}
    for batch in batches:
        host = np.asarray(engine.task.collate([item] * batch))
        x = runner.device_input(host)
        started = time.perf_counter()
        runner.forward_on_device(x)  # a new batch size may compile (dynamic shapes: once)
        _sync(runner.device)
        first_s = time.perf_counter() - started
        on_device = _rate(
            lambda x=x, batch=batch: (runner.forward_on_device(x), batch)[1], seconds, runner.device
        )
        from_host = _rate(
            lambda host=host, batch=batch: (runner.run(host), batch)[1], seconds / 2, runner.device
        )
        figures["on_device"][str(batch)] = on_device
        figures["from_host"][str(batch)] = from_host
        print(
            f"bare model batch {batch}: {on_device} img/s on device, {from_host} from host "
            f"(first call {first_s:.1f} s)",
            flush=True,
        )
    best = max(figures["on_device"].items(), key=lambda kv: kv[1])
    figures["best_batch"], figures["best_images_per_s"] = int(best[0]), best[1]
    figures["best_from_host_images_per_s"] = max(figures["from_host"].values())
    return figures


def pipeline(engine: ModelEngine, photo: bytes, threads: int, seconds: float) -> dict[str, Any]:
    """Decode + preprocess in threads, overlapped with the previous batch's inference."""
    batch = engine.cfg.batching.max_batch_size
    params = [engine.parse_params({})] * batch
    pool = ThreadPoolExecutor(threads)
    prepare = partial(engine.prepare, max_pixels=MAX_PIXELS)

    def submit() -> list[Future[Any]]:
        return [pool.submit(prepare, photo) for _ in range(batch)]

    pending = [submit()]

    def step() -> int:
        items = [f.result() for f in pending.pop()]
        pending.append(submit())
        engine.infer(items, params)
        return batch

    try:
        rate = _rate(step, seconds, engine.runner.device)
    finally:
        pending.clear()
        pool.shutdown(wait=True)
    print(f"bare pipeline {engine.cfg.name}: {rate} img/s (batch {batch}, {threads} threads)", flush=True)
    return {"images_per_s": rate, "batch": batch, "threads": threads}


def decoding(photo: bytes, device: str, threads: int, engine: ModelEngine, seconds: float) -> dict[str, Any]:
    """Images/s of each way to decode the classify photo, and of decode + preprocess."""
    encoded = torch.frombuffer(bytearray(photo), dtype=torch.uint8)
    pool = ThreadPoolExecutor(threads)

    def batched(batch: int = 64) -> int:
        decode_jpeg([encoded] * batch, device=device)
        return batch

    def threaded(fn: Callable[[bytes], Any], per_step: int = 64) -> Callable[[], int]:
        return lambda: len(list(pool.map(fn, [photo] * per_step)))

    try:
        figures = {
            "nvjpeg_batched_64" if device == "cuda" else "torchvision_batched_64": _rate(
                batched, seconds, device
            ),
            "service_path_threads": _rate(
                threaded(partial(decode_on_device, max_pixels=MAX_PIXELS, device=device)), seconds, device
            ),
            "pillow_threads": _rate(threaded(partial(decode, max_pixels=MAX_PIXELS)), seconds, "cpu"),
            "prepare_threads": _rate(
                threaded(partial(engine.prepare, max_pixels=MAX_PIXELS)), seconds, device
            ),
        }
    finally:
        pool.shutdown(wait=True)
    figures |= {"threads": threads, "photo_bytes": len(photo)}
    print(f"decode: {figures}", flush=True)
    return figures


def explain(model: ModelConfig, engine_args: dict[str, Any], photo: bytes, seconds: float) -> dict[str, Any]:
    """Grad-CAM in this process, on the model as the explainer deployment loads it."""
    explainable = ExplainableModel(ModelEngine(explanation_config(model), **engine_args))
    params = {"methods": ["gradcam"]}
    explainable.explain(photo, params, max_pixels=MAX_PIXELS)
    latencies, started = [], time.perf_counter()
    while time.perf_counter() - started < seconds:
        begun = time.perf_counter()
        explainable.explain(photo, params, max_pixels=MAX_PIXELS)
        latencies.append(time.perf_counter() - begun)
    figures = {
        "explanations_per_s": round(len(latencies) / (time.perf_counter() - started), 2),
        "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 2),
        "device": explainable.engine.runner.device,
    }
    print(f"bare Grad-CAM: {figures}", flush=True)
    return figures
