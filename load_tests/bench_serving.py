"""The default config under load, against the bare in-process pipeline and LitServe, in one run.

Starts the service (local Ray, deploy/serve/local.yaml, direct ingress), drives it with wrk
(load_tests/wrk.py) and writes JSON plus a PNG plot under load_tests/results/:

- bare: decode + preprocess + model + postprocess in this process, no HTTP, same backend, at
  batch 1 up to the model's max batch (the best is the reference); and the classifier's
  model alone on each backend (torch eager, channels_last, torch.compile, onnxruntime);
- served rows: classify at 1/4/16/64 connections with 1 and 8 images per request, detect,
  segment, explain (Grad-CAM) and a mixed load; each with requests/s, images/s, p50/p90/p99,
  mean batch size in the model replica, server CPU per request, and its ratio to the bare
  pipeline (and, for one-image classify, to LitServe at the same concurrency);
- LitServe (test-only dependency) serving the same engine with its own batching;
- memory: each replica's RSS before and after 10,000 classify requests;
- optionally (--profile) py-spy profiles of the ingress and model replicas under load.

    load_tests/install-tools     # wrk, LitServe, matplotlib, py-spy
    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_serving.py
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs
import wrk

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "serve" / "local.yaml"
IMAGES = Path(os.environ.get("VISIONSERVE_TEST_IMAGES", ROOT.parent / "shared" / "images"))
APP = "visionserve"
CLASSIFIER, DETECTOR, SEGMENTER = "efficientnet-lite0", "yolox-nano", "selfie-segmentation"
MAX_PIXELS = 40_000_000


def _jpeg(name: str, quality: int = 90) -> bytes:
    """A photo as the JPEG a camera or browser would send (the classify one is about 35 KB)."""
    buffer = io.BytesIO()
    Image.open(IMAGES / name).convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


PHOTOS = {
    CLASSIFIER: _jpeg("chelsea.png"),
    DETECTOR: (IMAGES / "dog_bike_car.jpg").read_bytes(),
    SEGMENTER: (IMAGES / "grace_hopper.jpg").read_bytes(),
}
PATHS = {CLASSIFIER: "/v1/classify", DETECTOR: "/v1/detect", SEGMENTER: "/v1/segment"}


def _request(model: str, images: int = 1, weight: int = 1) -> wrk.Request:
    return wrk.multipart(PATHS[model], [PHOTOS[model]] * images, weight=weight, model=model)


def _explain_request() -> wrk.Request:
    return wrk.multipart("/v1/explain", [PHOTOS[CLASSIFIER]], model=CLASSIFIER, methods="gradcam")


# (name, model whose batches are counted, workload, connection counts)
Row = tuple[str, str, list[wrk.Request], list[int]]


def rows_for(served_models: set[str]) -> list[Row]:
    """The workloads, for the models this config serves (gpu.yaml has no segmenter)."""
    rows: list[Row] = [
        ("classify", CLASSIFIER, [_request(CLASSIFIER)], [1, 4, 16, 64]),
        ("classify x8", CLASSIFIER, [_request(CLASSIFIER, 8)], [1, 4, 16, 64]),
        ("detect", DETECTOR, [_request(DETECTOR)], [1, 16]),
        ("segment", SEGMENTER, [_request(SEGMENTER)], [1, 16]),
        ("explain", "", [_explain_request()], [1, 4]),
    ]
    rows = [r for r in rows if not r[1] or r[1] in served_models]
    mix = [(CLASSIFIER, 5), (DETECTOR, 3), (SEGMENTER, 2)]
    rows.append(("mixed", "", [_request(m, weight=w) for m, w in mix if m in served_models], [16]))
    return rows


def bare_pipeline(seconds: float) -> dict[str, dict[str, float]]:
    """Images/s in this process at each batch size: decode (two threads, as the replica) then infer."""
    from visionserve.config import load_serve_file, parse_service_config
    from visionserve.engine import ModelEngine
    from visionserve.settings import Settings

    settings = Settings.from_env()
    config = parse_service_config(load_serve_file(CONFIG).args)
    results: dict[str, dict[str, float]] = {}
    pool = ThreadPoolExecutor(2)
    for model in (m for m in config.models if m.name in PHOTOS):
        engine = ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
        data, params = PHOTOS[model.name], engine.parse_params({})
        figures: dict[str, float] = {}
        for batch in sorted({1, 2, 4, model.batching.max_batch_size}):
            if batch > model.batching.max_batch_size:
                continue
            engine.infer([engine.prepare(data, max_pixels=MAX_PIXELS)] * batch, [params] * batch)  # warm
            done, latencies, started = 0, [], time.perf_counter()
            while time.perf_counter() - started < seconds / 4:
                begun = time.perf_counter()
                items = list(pool.map(partial(engine.prepare, max_pixels=MAX_PIXELS), [data] * batch))
                engine.infer(items, [params] * batch)
                latencies.append(time.perf_counter() - begun)
                done += batch
            figures[f"batch_{batch}_images_per_s"] = round(done / (time.perf_counter() - started), 2)
            if batch == 1:
                figures["batch_1_p50_ms"] = round(1000 * sorted(latencies)[len(latencies) // 2], 2)
        best = max((v, k) for k, v in figures.items() if k.endswith("images_per_s"))
        figures["best_images_per_s"], figures["best_batch"] = best[0], int(best[1].split("_")[1])
        results[model.name] = figures
        print(json.dumps({"bare": model.name, **figures}), flush=True)
    results["explain"] = _bare_explain(config, settings, seconds)
    return results


def backends(seconds: float) -> dict[str, dict[str, float]]:
    """The classifier's model alone (no decode) on each backend: how the config's choice was made."""
    from visionserve.config import load_serve_file, parse_service_config
    from visionserve.engine import ModelEngine
    from visionserve.settings import Settings

    settings = Settings.from_env()
    base = next(m for m in parse_service_config(load_serve_file(CONFIG).args).models if m.name == CLASSIFIER)
    choices = {
        "torch eager": {"backend": "torch"},
        "torch channels_last": {"backend": "torch", "channels_last": True},
        "torch.compile channels_last": {"backend": "torch", "channels_last": True, "compile": True},
        "onnxruntime": {"backend": "onnxruntime"},
    }
    results: dict[str, dict[str, float]] = {}
    for name, runtime in choices.items():
        model = base.model_copy(update={"runtime": base.runtime.model_copy(update=runtime)})
        engine = ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
        item = engine.prepare(PHOTOS[CLASSIFIER], max_pixels=MAX_PIXELS)
        params = engine.parse_params({})
        figures: dict[str, float] = {}
        for batch in (1, 8):
            engine.infer([item] * batch, [params] * batch)  # warm (compiled at load already)
            done, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds / 4:
                engine.infer([item] * batch, [params] * batch)
                done += batch
            figures[f"batch_{batch}_images_per_s"] = round(done / (time.perf_counter() - started), 2)
        results[name] = figures
        print(json.dumps({"backend": name, **figures}), flush=True)
    return results


def _bare_explain(config: Any, settings: Any, seconds: float) -> dict[str, float]:
    """Grad-CAM of the classifier in this process: the explainer's own code path."""
    from visionserve.engine import ModelEngine
    from visionserve.explain.service import ExplainableModel

    model = next(m for m in config.models if m.name == CLASSIFIER)
    model = model.model_copy(update={"runtime": model.runtime.model_copy(update={"backend": "torch"})})
    explainable = ExplainableModel(
        ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
    )
    explainable.explain(PHOTOS[CLASSIFIER], {"methods": ["gradcam"]}, max_pixels=MAX_PIXELS)
    latencies, started = [], time.perf_counter()
    while time.perf_counter() - started < seconds / 2:
        begun = time.perf_counter()
        explainable.explain(PHOTOS[CLASSIFIER], {"methods": ["gradcam"]}, max_pixels=MAX_PIXELS)
        latencies.append(time.perf_counter() - begun)
    figures = {
        "best_images_per_s": round(len(latencies) / (time.perf_counter() - started), 2),
        "batch_1_p50_ms": round(1000 * sorted(latencies)[len(latencies) // 2], 2),
    }
    print(json.dumps({"bare": "explain", **figures}), flush=True)
    return figures


def _reference(name: str, workload: list[wrk.Request], bare: dict[str, dict[str, float]]) -> float:
    """Bare images/s for a row's workload; for a mix, one request of each kind in its share."""
    if name == "explain":
        return bare["explain"]["best_images_per_s"]
    by_path = {PATHS[m]: m for m in PATHS}
    weights = sum(r.weight for r in workload)
    seconds_per_image = sum(r.weight / weights / bare[by_path[r.path]]["best_images_per_s"] for r in workload)
    return 1 / seconds_per_image


def service_config(colocate: list[str]) -> Any:
    """The config under test: CONFIG, with the COLOCATE models placed in the ingress (which
    then asks for their CPUs too)."""
    from visionserve.config import DeploymentConfig, load_serve_file, parse_service_config

    config = parse_service_config(load_serve_file(CONFIG).args)
    unknown = set(colocate) - {m.name for m in config.models}
    if unknown:
        raise SystemExit(f"--colocate: unknown models {sorted(unknown)}")
    placed = [m for m in config.models if m.name in colocate and m.deployment.placement == "replica"]

    def in_ingress(m: Any) -> Any:
        deployment = DeploymentConfig(placement="ingress", decode_threads=m.deployment.decode_threads)
        return m.model_copy(update={"deployment": deployment})

    models = [in_ingress(m) if m in placed else m for m in config.models]
    cpus = config.ingress.num_cpus + sum(m.deployment.num_cpus for m in placed)
    ingress = config.ingress.model_copy(update={"num_cpus": cpus})
    return parse_service_config(config.model_copy(update={"models": models, "ingress": ingress}).model_dump())


class Server:
    """What the driver can read about the running service: batch counters and replica processes."""

    def __init__(self, models: list[str], colocated: list[str]) -> None:
        from ray import serve

        self._colocated = set(colocated)
        self._handles = {
            m: serve.get_deployment_handle("ingress" if m in self._colocated else f"model-{m}", app_name=APP)
            for m in models
        }
        for handle in self._handles.values():
            # Serve's throughput mode routes on the caller's event loop; this driver has none.
            handle._init(_run_router_in_separate_loop=True)

    def batches(self) -> dict[str, dict[str, int]]:
        asked = {
            m: h.colocated_batch_stats.remote(m) if m in self._colocated else h.batch_stats.remote()
            for m, h in self._handles.items()
        }
        return {m: response.result() for m, response in asked.items()}

    @staticmethod
    def cpu() -> float:
        return procs.cpu_seconds(list(procs.ray_workers()))


def served(url: str, seconds: float, bare: dict[str, dict[str, float]], config: Any) -> list[dict[str, Any]]:
    served_models = {m.name for m in config.models}
    colocated = [m.name for m in config.models if m.deployment.placement == "ingress"]
    server = Server(sorted(served_models & set(PHOTOS)), colocated)
    rows = []
    for name, model, workload, connection_counts in rows_for(served_models):
        wrk.run(url, workload, connections=4, seconds=2)  # warm the path and the model
        for connections in connection_counts:
            batches_before, cpu_before = server.batches(), server.cpu()
            result = wrk.run(url, workload, connections=connections, seconds=seconds)
            batches_after, cpu_after = server.batches(), server.cpu()
            row: dict[str, Any] = {"workload": name, **result}
            if model:
                batches = batches_after[model]["batches"] - batches_before[model]["batches"]
                images = batches_after[model]["images"] - batches_before[model]["images"]
                row["mean_batch"] = round(images / batches, 2) if batches else None
            row["server_cpu_ms_per_request"] = round(
                1000 * (cpu_after - cpu_before) / max(result["requests"], 1), 2
            )
            row["ratio_to_bare"] = round(row["images_per_s"] / _reference(name, workload, bare), 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def memory(url: str, requests: int) -> dict[str, Any]:
    """Each replica's RSS after a warm-up, then after at least REQUESTS more classify requests."""
    workload = [_request(CLASSIFIER)]
    wrk.run(url, workload, connections=16, seconds=10)
    before = {name: procs.rss_bytes(pid) for name, pid in procs.replicas(APP).items()}
    sent = errors = 0
    while sent < requests:
        result = wrk.run(url, workload, connections=16, seconds=20)
        sent, errors = sent + result["requests"], errors + result["http_errors"] + result["socket_errors"]
    after = {name: procs.rss_bytes(pid) for name, pid in procs.replicas(APP).items()}
    report = {
        "requests": sent,
        "errors": errors,
        "replicas": {
            name: {
                "rss_mb_before": round(before[name] / 2**20, 1),
                "rss_mb_after": round(after[name] / 2**20, 1),
                "growth_percent": round(100 * (after[name] - before[name]) / before[name], 2),
            }
            for name in before
            if name in after
        },
    }
    print(json.dumps({"memory": report}), flush=True)
    return report


def profile(url: str, seconds: float, out_dir: Path) -> dict[str, Any]:
    """py-spy on the ingress and classifier replicas during one-image classify at 16 connections."""
    targets = {n: p for n, p in procs.replicas(APP).items() if n in ("ingress", f"model-{CLASSIFIER}")}
    spy = Path(sys.executable).with_name("py-spy")
    recorders = {
        name: subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(out_dir / f"profile-{name}.txt"),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in targets.items()
    }
    wrk.run(url, [_request(CLASSIFIER)], connections=16, seconds=seconds + 2)
    summary = {}
    for name, recorder in recorders.items():
        recorder.wait(timeout=120)
        summary[name] = _top_frames(out_dir / f"profile-{name}.txt")
    print(json.dumps({"profile": summary}), flush=True)
    return summary


def _top_frames(collapsed: Path, top: int = 12) -> dict[str, Any]:
    """Share of samples per innermost frame, and per frame anywhere on the stack."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")") for f in stack.split(";")[1:]]
        if not frames:
            continue
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count

    def share(counts: dict[str, int]) -> list[tuple[str, float]]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        return [(frame, round(100 * count / max(total, 1), 1)) for frame, count in ranked]

    return {"samples": total, "self_percent": share(own), "inclusive_percent": share(inclusive)}


def litserve(seconds: float, connections_list: list[int], backend: str | None = None) -> list[dict[str, Any]]:
    """LitServe (batching 8, 10 ms) serving the same classifier engine, one image per request."""
    port = _free_port()
    app = [sys.executable, str(ROOT / "load_tests" / "litserve_app.py"), str(port)]
    server = subprocess.Popen(
        app + ([backend] if backend else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        workload = [wrk.multipart("/v1/classify", [PHOTOS[CLASSIFIER]])]
        wrk.run(url, workload, connections=4, seconds=2)
        for connections in connections_list:
            result = wrk.run(url, workload, connections=connections, seconds=seconds)
            rows.append({"workload": f"litserve classify{f' ({backend})' if backend else ''}", **result})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        # LitServe's workers outlive a signal to the group; one left running (at 60% of a
        # core) would slow every row after it, as it once slowed the torch row 20-fold.
        for pid in procs.with_command_line(f"litserve_app.py {port}"):
            os.kill(pid, 9)
        time.sleep(3)  # their threads take a moment to go
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Rows = list[dict[str, Any]]


def _ratio(ours: float, theirs: float) -> float | None:
    """None where the other side completed nothing in the row's time."""
    return round(ours / theirs, 3) if theirs else None


def _targets(rows: Rows, lite: Rows, lite_eager: Rows, bare: dict[str, Any]) -> dict[str, Any]:
    """The performance targets, each with the figure it is judged on."""

    def row(name: str, connections: int) -> dict[str, Any]:
        return next(r for r in rows if r["workload"] == name and r["connections"] == connections)

    lite16 = next(r for r in lite if r["connections"] == 16)
    classify16, single = row("classify", 16), row("classify", 1)
    return {
        "classify_16_vs_litserve": {
            "ratio": _ratio(classify16["requests_per_s"], lite16["requests_per_s"]),
            "target": 3.0,
        },
        "classify_16_vs_litserve_torch_eager": {
            "ratio": _ratio(classify16["requests_per_s"], lite_eager[0]["requests_per_s"]),
            "target": 3.0,
        },
        "classify_16_vs_bare": {"ratio": classify16["ratio_to_bare"], "target": 0.6},
        "classify_16_mean_batch": {"value": classify16["mean_batch"], "target": 4},
        "classify_x8_16_vs_bare": {"ratio": row("classify x8", 16)["ratio_to_bare"], "target": 0.85},
        "classify_1_p50_over_bare_ms": {
            "value": round(single["p50_ms"] - bare[CLASSIFIER]["batch_1_p50_ms"], 2),
            "target": 3.0,
        },
        "detect_16_vs_bare": {"ratio": row("detect", 16)["ratio_to_bare"], "target": 0.6},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--memory-requests", type=int, default=10_000)
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the replicas (needs root or ptrace rights)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "serving.json")
    parser.add_argument(
        "--config", type=Path, default=None, help="Serve config (default local.yaml; gpu.yaml on a GPU)"
    )
    parser.add_argument(
        "--colocate",
        action="append",
        default=[],
        metavar="MODEL",
        help="serve MODEL inside the ingress replica (deployment.placement: ingress); repeatable",
    )
    args = parser.parse_args()
    global CONFIG
    CONFIG = (args.config or CONFIG).resolve()
    os.environ["VISIONSERVE_BENCH_CONFIG"] = str(CONFIG)  # for litserve_app.py
    args.out.parent.mkdir(parents=True, exist_ok=True)
    wrk.require_wrk()

    bare = bare_pipeline(args.seconds)
    backend_figures = backends(args.seconds)
    from visionserve.local import start_local

    config = service_config(args.colocate)
    service = start_local(config, port=_free_port(), grpc_port=_free_port(), include_dashboard=False)
    try:
        service.wait_ready()
        rows = served(service.url, args.seconds, bare, config)
        proxy_row = {
            "workload": "classify via Ray's proxy",
            **wrk.run(
                f"http://{service.host}:{service.proxy_port}",
                [_request(CLASSIFIER)],
                connections=16,
                seconds=args.seconds,
            ),
        }
        print(json.dumps(proxy_row), flush=True)
        spent = memory(service.url, args.memory_requests)
        profiles = profile(service.url, args.seconds, args.out.parent) if args.profile else {}
    finally:
        service.stop()
    lite = litserve(args.seconds, [1, 4, 16, 64])
    # LitServe as it is usually deployed: the torch model as is, no export.
    lite_eager = litserve(args.seconds, [16], backend="torch")
    for row in rows:
        match = next((r for r in lite if r["connections"] == row["connections"]), None)
        if row["workload"] == "classify" and match and match["requests_per_s"]:
            row["ratio_to_litserve"] = round(row["requests_per_s"] / match["requests_per_s"], 3)
    report = {
        "benchmark": "serving",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": procs.machine(),
        "seconds_per_row": args.seconds,
        "config": str(CONFIG.relative_to(ROOT)),
        "colocated_in_ingress": args.colocate,
        "bare_pipeline": bare,
        "classifier_backends": backend_figures,
        "served": rows,
        "served_via_ray_proxy": proxy_row,
        "litserve": lite,
        "litserve_torch_eager": lite_eager,
        "memory": spent,
        "profile": profiles,
        "targets": _targets(rows, lite, lite_eager, bare),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    from plot import plot

    plot(report, args.out.with_suffix(".png"))
    print(json.dumps(report["targets"], indent=2))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
