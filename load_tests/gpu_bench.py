"""The GPU profile (deploy/serve/gpu.yaml) under load, against the bare model on the same GPU.

One run, one JSON (OUT/gpu_profile.json, rewritten after every step so that a run cut short
keeps what it measured): the references of load_tests/gpu_bare.py, then the service started
with the profile and driven by wrk (load_tests/wrk.py): classify with 1 and 8 images per
request at 1/16/64/256 connections, detect, one Grad-CAM row; per row images/s, its ratio to
the bare model, p50/p99, the mean batch, the GPU's utilisation (nvidia-smi dmon) and the
cores each replica used.

What the run changes in the profile, and says so in the JSON's "changes": the classifier is
pinned to one replica (rows stay comparable; autoscaling would add a second one mid-run), and
where onnxruntime has no CUDA provider the detector runs on the CPU (a CPU-only onnxruntime
cannot run TensorRT). ``--cpu`` runs every step on the CPU with small counts (a dry run).

    load_tests/gpu_check.sh [--cpu]          # sets up the environment, then runs this
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_serving
import gpu_bare
import procs
import wrk

ROOT = Path(__file__).resolve().parents[1]
APP = "visionserve"
CLASSIFIER, DETECTOR = bench_serving.CLASSIFIER, bench_serving.DETECTOR


def measured_config(path: Path, cpu: bool) -> tuple[Any, list[str]]:
    """The profile as this run serves it, and each change made to it."""
    import onnxruntime as ort

    from visionserve.config import load_serve_file, parse_service_config

    raw = parse_service_config(load_serve_file(path).args).model_dump()
    changes = []
    for model in raw["models"]:
        deployment, runtime = model["deployment"], model["runtime"]
        if deployment.get("autoscaling"):
            deployment["autoscaling"], deployment["num_replicas"] = None, 1
            changes.append(f"{model['name']}: one replica (autoscaling off)")
        on_cpu = cpu or (
            runtime["backend"] == "onnxruntime"
            and "CUDAExecutionProvider" not in ort.get_available_providers()
        )
        if on_cpu and runtime["device"] == "cuda":
            runtime |= {"device": "cpu", "tensorrt": False}
            deployment["num_gpus"] = 0
            if cpu and runtime["backend"] == "torch":
                runtime |= {"precision": "fp32", "compile": False}
            changes.append(f"{model['name']}: on the CPU ({runtime['backend']})")
    if cpu:
        raw["explainer"]["num_gpus"] = 0
    return parse_service_config(raw), changes


class Dmon:
    """``nvidia-smi dmon`` in the background: per-second SM and memory utilisation."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self._process = None
        if shutil.which("nvidia-smi"):
            command = ["nvidia-smi", "dmon", "-s", "u", "-o", "T", "-d", "1"]
            self._process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)

    def window(self, start: float, end: float) -> dict[str, float] | None:
        """Mean sm% and mem% of the samples taken between two time.time() stamps."""
        if self._process is None:
            return None
        columns: list[str] = []
        samples: list[tuple[float, float]] = []
        day = datetime.fromtimestamp(start).date()
        for line in self.log.read_text().splitlines():
            fields = line.split()
            if line.startswith("#Time"):
                columns = fields[1:]
            elif fields and not line.startswith("#") and columns and len(fields) == len(columns) + 1:
                when = datetime.combine(day, datetime.strptime(fields[0], "%H:%M:%S").time()).timestamp()
                row = dict(zip(columns, fields[1:], strict=True))
                if start <= when <= end and row.get("sm", "-") != "-":
                    samples.append((float(row["sm"]), float(row.get("mem", "0").replace("-", "0"))))
        if not samples:
            return None
        return {
            "sm_percent": round(sum(s for s, _ in samples) / len(samples), 1),
            "mem_percent": round(sum(m for _, m in samples) / len(samples), 1),
            "samples": len(samples),
        }

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout_s: float) -> None:
    """/readyz 200, or raise with its answer (a model that failed to load says why there)."""
    deadline, last, said = time.monotonic() + timeout_s, "no answer", 0.0
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/readyz", timeout=10)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = str(exc)
        if time.monotonic() - said > 15:
            print(f"waiting for /readyz: {last[:300]}", flush=True)
            said = time.monotonic()
        time.sleep(1)
    raise RuntimeError(f"not ready after {timeout_s:g} s: {last}")


def warm(url: str, photo: bytes) -> dict[str, Any]:
    """One classify request of 1, 8 and 64 images, each awaited (and tried again, up to three
    times, if the service times out): shapes the model has not seen yet cost their first call
    here, not inside a measured row. Each answer's status and time are recorded."""
    answers: dict[str, Any] = {}
    for count in (1, 8, 64):
        files = [("images", (f"i{i}.jpg", photo, "image/jpeg")) for i in range(count)]
        tries = []
        for _ in range(3):
            started = time.perf_counter()
            response = httpx.post(f"{url}/v1/classify", files=files, data={"model": CLASSIFIER}, timeout=600)
            tries.append({"status": response.status_code, "seconds": round(time.perf_counter() - started, 2)})
            if response.status_code < 500:
                break
        answers[f"classify_{count}"] = tries
    print(f"warm: {answers}", flush=True)
    return answers


Row = tuple[str, str, list[wrk.Request], int]


def rows() -> list[Row]:
    """The rows, most important first (a run short of time drops the last ones)."""
    one, eight = [bench_serving._request(CLASSIFIER)], [bench_serving._request(CLASSIFIER, 8)]
    ordered: list[Row] = [("classify", CLASSIFIER, one, 64), ("classify x8", CLASSIFIER, eight, 64)]
    ordered += [("classify", CLASSIFIER, one, c) for c in (1, 16, 256)]
    ordered += [("classify x8", CLASSIFIER, eight, c) for c in (1, 16, 256)]
    ordered += [("explain", "", [bench_serving._explain_request()], 1)]
    ordered += [("detect", DETECTOR, [bench_serving._request(DETECTOR)], 16)]
    return ordered


def measure(url: str, seconds: float, report: dict[str, Any], dmon: Dmon, deadline: float, save: Any) -> None:
    server = bench_serving.Server([CLASSIFIER, DETECTOR], [])
    bare = report["bare"]
    references = {
        "classify": bare["model"]["best_images_per_s"],
        "classify x8": bare["model"]["best_images_per_s"],
        "explain": bare["explain"]["explanations_per_s"],
        "detect": bare["detect_pipeline"]["images_per_s"],
    }
    warmed: set[str] = set()
    for name, model, workload, connections in rows():
        if time.monotonic() + seconds + 4 > deadline:
            report["skipped"].append(f"{name} @{connections}")
            continue
        if name not in warmed:
            wrk.run(url, workload, connections=min(connections, 16), seconds=2)
            warmed.add(name)
        pids = procs.replicas(APP)
        batches_before = server.batches()
        cpu_before = {n: procs.cpu_seconds([p]) for n, p in pids.items()}
        started = time.time()
        result = wrk.run(url, workload, connections=connections, seconds=seconds)
        ended = time.time()
        batches_after = server.batches()
        row: dict[str, Any] = {"workload": name, **result}
        if model:
            images = batches_after[model]["images"] - batches_before[model]["images"]
            count = batches_after[model]["batches"] - batches_before[model]["batches"]
            row["mean_batch"] = round(images / count, 2) if count else None
        row["replica_cores"] = {
            n: round((procs.cpu_seconds([p]) - cpu_before[n]) / (ended - started), 2) for n, p in pids.items()
        }
        row["gpu"] = dmon.window(started + 1, ended)
        row["reference_images_per_s"] = references[name]
        row["ratio_to_bare"] = round(row["images_per_s"] / references[name], 4)
        if name.startswith("classify"):
            row["ratio_to_bare_pipeline"] = round(
                row["images_per_s"] / bare["classify_pipeline"]["images_per_s"], 4
            )
        report["served"].append(row)
        save()
        print(json.dumps(row), flush=True)


def save_ray_logs(path: Path) -> None:
    """The tail of each replica's log and stderr (load times, errors), in one file."""
    from ray._private.worker import _global_node

    logs = Path(_global_node.get_session_dir_path()) / "logs"
    with path.open("w") as out:
        for log in sorted((logs / "serve").glob("replica_*.log")) + sorted(logs.glob("worker-*.err")):
            lines = log.read_text(errors="replace").splitlines()[-150:]
            out.write(f"==> {log.name}\n" + "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpu", action="store_true", help="a dry run on the CPU, small counts")
    parser.add_argument("--config", type=Path, default=ROOT / "deploy" / "serve" / "gpu.yaml")
    parser.add_argument("--seconds", type=float, default=None, help="per served row (8; 2 with --cpu)")
    parser.add_argument("--budget-s", type=float, default=420, help="stop adding rows past this")
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "gpu")
    args = parser.parse_args()
    begun = time.monotonic()
    deadline = begun + args.budget_s
    seconds = args.seconds or (2.0 if args.cpu else 8.0)
    bare_s = 0.3 if args.cpu else 1.0
    args.out.mkdir(parents=True, exist_ok=True)
    wrk.require_wrk()

    import torch

    from visionserve.engine import ModelEngine
    from visionserve.settings import Settings

    config, changes = measured_config(args.config, args.cpu)
    device = "cpu" if args.cpu else "cuda"
    report: dict[str, Any] = {
        "benchmark": "gpu_profile",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": procs.machine(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "config": str(args.config.resolve().relative_to(ROOT)),
        "changes": changes,
        "seconds_per_row": seconds,
        "bare": {},
        "served": [],
        "skipped": [],
    }
    path = args.out / "gpu_profile.json"

    def save() -> None:
        path.write_text(json.dumps(report, indent=2) + "\n")

    settings = Settings.from_env()
    engine_args = {"model_dirs": settings.model_dirs, "cache_dir": settings.cache_dir}
    models = {m.name: m for m in config.models}
    classifier = ModelEngine(models[CLASSIFIER], **engine_args)
    report["bare"]["classifier_load_s"] = round(classifier.load_seconds, 1)
    photo = bench_serving.PHOTOS[CLASSIFIER]
    threads = models[CLASSIFIER].deployment.decode_threads
    batches = [1, 8, 64] if args.cpu else [1, 8, 32, 64, 128, 256, 512]
    report["bare"]["model"] = gpu_bare.model_alone(classifier, photo, batches, bare_s)
    save()
    report["bare"]["decode"] = gpu_bare.decoding(photo, device, threads, classifier, bare_s)
    report["bare"]["classify_pipeline"] = gpu_bare.pipeline(classifier, photo, threads, 2 * bare_s)
    save()
    detector = ModelEngine(models[DETECTOR], **engine_args)
    report["bare"]["detect_pipeline"] = gpu_bare.pipeline(
        detector, bench_serving.PHOTOS[DETECTOR], models[DETECTOR].deployment.decode_threads, 2 * bare_s
    )
    report["bare"]["detect_pipeline"]["device"] = detector.runner.device
    report["bare"]["explain"] = gpu_bare.explain(models[CLASSIFIER], engine_args, photo, 2 * bare_s)
    report["bare_seconds"] = round(time.monotonic() - begun, 1)
    save()
    del classifier, detector

    from visionserve.local import start_local

    dmon = Dmon(args.out / "dmon.log")
    started = time.monotonic()
    service = start_local(
        config, port=_free_port(), include_dashboard=False, num_cpus=16 if args.cpu else None
    )
    try:
        wait_ready(service.url, timeout_s=300)
        report["service_start_s"] = round(time.monotonic() - started, 1)
        report["warm"] = warm(service.url, photo)
        save()
        measure(service.url, seconds, report, dmon, deadline, save)
    finally:
        report["total_seconds"] = round(time.monotonic() - begun, 1)
        save()
        dmon.stop()
        save_ray_logs(args.out / "ray-logs.txt")
        service.stop()
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    main()
