"""One-image classification, VisionServe against peer model servers on the same model: requests/s
and p50/p90/p99 at 1 and 16 connections (64 with --connections-64), wrk the load (wrk.py).

    load_tests/install-peers     # KServe and BentoML, each in a virtual environment of its own
    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_peers.py --seconds 10

Every server runs EfficientNet-Lite0 as VisionServe exports it to ONNX (found as VisionServe finds
it: the default config's first model, loaded by ModelEngine) in onnxruntime with two intra-op
threads, and answers the top 5. The peers preprocess as torchvision's standard ImageNet transforms
do (peers/standard_preprocess.py, numpy: no torch in their environments):

- visionserve: `visionserve serve deploy/serve/local.yaml` (served_tree.py), POST /v1/classify.
- litserve: peers/litserve_peer.py, LitServe batching (8 images, 10 ms), POST /predict.
- kserve: peers/kserve_peer.py, KServe 0.21's model server, V1 protocol (base64 JSON).
- bentoml: peers/bentoml_peer.py, BentoML 1.4 adaptive batching (8 images), one worker.
- litserve-engine (--with-litserve-engine): litserve_app.py, LitServe around VisionServe's own
  ModelEngine: LitServe's serving with VisionServe's pipeline.

One photo for all (dog_bike_car.jpg at 500x375, JPEG quality 85), the same bytes every request.
One server at a time: started on a free port, ready once a request succeeds, warmed for 3 s at 16
connections, measured for SECONDS at each connection count, stopped until its process group is
gone. Writes load_tests/results/peers.json: per server and connection count the wrk figures, each
server's top-1 on the photo (they should agree), and VisionServe's ratios to each peer.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs
import served_tree
import wrk
from profile_request_path import sample_photo

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "load_tests" / "peers"
LOCAL_CONFIG = ROOT / "deploy" / "serve" / "local.yaml"
MODEL_NAME = "efficientnet-lite0"  # KServe's route
FIGURES = ("requests_per_s", "p50_ms", "p90_ms", "p99_ms")


@dataclass(frozen=True)
class Peer:
    name: str
    command: list[str]
    request: wrk.Request
    top1: Callable[[Any], dict[str, Any]]
    cwd: Path = PEERS
    tree_code: bool = False  # imports VisionServe: the tree's code first on its path


def exported_graph() -> Path:
    """The ONNX file VisionServe serves: the default config's first model loaded by ModelEngine
    (which exports it once), then found in the cache as the exporter names it."""
    from visionserve.config import load_serve_file, parse_service_config
    from visionserve.engine import ModelEngine
    from visionserve.settings import Settings

    settings = Settings.from_env()
    model = parse_service_config(load_serve_file(str(LOCAL_CONFIG)).args).models[0]
    engine = ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
    found = sorted((settings.cache_dir / "onnx").glob(f"{model.name}-{engine.version[:16]}-*.onnx"))
    if not found:
        raise SystemExit(f"no ONNX export of {model.name} in {settings.cache_dir / 'onnx'}")
    return found[0]


def graph_of_tree(folder: Path) -> Path:
    """exported_graph() in a process of the tree's own (its code first, as the service runs it):
    this one stays without torch while it drives the load."""
    out = subprocess.run(
        [sys.executable, __file__, "--print-graph"],
        cwd=ROOT,
        env=served_tree.environment(ROOT, folder),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"could not load the model:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def visionserve_top1(body: Any) -> dict[str, Any]:
    best = body["results"][0]["classes"][0]
    return {"label": best["label"], "probability": round(best["score"], 6)}


def peers(photo: bytes, with_engine: bool) -> list[Peer]:
    def venv(name: str, tool: str = "python") -> str:
        return str(ROOT / f".venv-peer-{name}" / "bin" / tool)

    b64 = base64.b64encode(photo).decode()
    v1 = json.dumps({"instances": [{"image": {"b64": b64}}]}).encode()
    kserve_path = f"/v1/models/{MODEL_NAME}:predict"
    found = [
        Peer(
            "litserve",
            [sys.executable, "litserve_peer.py", "{port}"],
            wrk.multipart("/predict", [photo]),
            lambda body: body["predictions"][0],
        ),
        Peer(
            "kserve",
            [venv("kserve"), "kserve_peer.py", "{port}"],
            wrk.Request(kserve_path, "application/json", v1),
            lambda body: body["predictions"][0][0],
        ),
        Peer(
            "bentoml",
            [
                *(venv("bentoml", "bentoml"), "serve", "bentoml_peer:Classifier"),
                *("--working-dir", str(PEERS), "--host", "127.0.0.1", "--port", "{port}"),
            ],
            wrk.multipart("/classify", [photo]),
            lambda body: body[0][0],
        ),
    ]
    if with_engine:
        found.append(
            Peer(
                "litserve-engine",
                [sys.executable, "load_tests/litserve_app.py", "{port}"],
                wrk.multipart("/v1/classify", [photo]),
                visionserve_top1,
                cwd=ROOT,
                tree_code=True,
            )
        )
    return found


def answer(url: str, request: wrk.Request, timeout_s: float) -> Any:
    """The server's answer to REQUEST, sent until it succeeds (the server is starting)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = httpx.post(
                url + request.path,
                content=request.body,
                headers={"content-type": request.content_type},
                timeout=30,
            )
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}{request.path} did not answer 200 in {timeout_s:g} s")
        time.sleep(1)


def group_alive(pgid: int) -> bool:
    """Whether a live process (not a zombie) of process group PGID is left."""
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split() if entry.name.isdigit() else []
        except OSError:
            continue
        if fields and int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def reap_group(pgid: int, grace_s: float = 30) -> None:
    """Returns once no process of the group is left: SIGKILL to what outlives GRACE_S."""
    deadline = time.monotonic() + grace_s
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    while group_alive(pgid):
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL after 30 s, until none of it nor below it is left."""
    below = {pid: served_tree.title(pid) for pid in served_tree.descendants(process.pid)}
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    reap_group(process.pid)
    for pid, name in below.items():  # any that left the group (a session of its own)
        if name and served_tree.title(pid) == name:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def load(url: str, request: wrk.Request, counts: list[int], seconds: float) -> dict[str, Any]:
    wrk.run(url, [request], connections=16, seconds=3)  # warm
    runs: dict[str, Any] = {}
    for connections in counts:
        result = wrk.run(url, [request], connections=connections, seconds=seconds)
        runs[str(connections)] = result
        shown = {k: result[k] for k in (*FIGURES, "http_errors", "socket_errors")}
        print(f"  {connections} connections: {json.dumps(shown)}", flush=True)
    return runs


def peer_environment(peer: Peer, folder: Path, graph: Path, labels: Path) -> dict[str, str]:
    env = (
        served_tree.environment(ROOT, folder / peer.name)
        if peer.tree_code
        else {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    )
    return {**env, "VISIONSERVE_PEER_ONNX": str(graph), "VISIONSERVE_PEER_LABELS": str(labels)}


def run_peer(
    peer: Peer, env: dict[str, str], folder: Path, counts: list[int], seconds: float
) -> dict[str, Any]:
    port = served_tree.free_port()
    command = [part.replace("{port}", str(port)) for part in peer.command]
    if not Path(command[0]).exists():
        raise RuntimeError(f"{command[0]} is missing: run load_tests/install-peers")
    log = folder / f"{peer.name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=peer.cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            top = peer.top1(answer(url, peer.request, timeout_s=300))
        except RuntimeError as error:
            raise RuntimeError(f"{peer.name}: {error}\n{log.read_text(errors='replace')[-3000:]}") from None
        print(f"{peer.name} at {url}: top-1 {top}", flush=True)
        return {"command": " ".join(command), "top1": top, "runs": load(url, peer.request, counts, seconds)}
    finally:
        stop(process)


def run_visionserve(photo: bytes, folder: Path, counts: list[int], seconds: float) -> dict[str, Any]:
    served = served_tree.start(ROOT, served_tree.serve_file(LOCAL_CONFIG), folder / "visionserve")
    try:
        request = wrk.multipart("/v1/classify", [photo])
        top = visionserve_top1(answer(served.url, request, timeout_s=60))
        print(f"visionserve at {served.url}: top-1 {top}", flush=True)
        return {
            "command": "visionserve serve deploy/serve/local.yaml",
            "top1": top,
            "runs": load(served.url, request, counts, seconds),
        }
    finally:
        served.stop()
        reap_group(served.process.pid, grace_s=10)


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """VisionServe's figure over each peer's, per connection count (requests/s: above 1 is
    VisionServe faster; latency: below 1 is VisionServe faster)."""
    ours = results["visionserve"]["runs"]
    found: dict[str, Any] = {}
    for name, peer in results.items():
        if name == "visionserve" or "runs" not in peer:
            continue
        found[name] = {
            c: {k: round(ours[c][k] / peer["runs"][c][k], 3) for k in FIGURES if peer["runs"][c][k]}
            for c in ours
            if c in peer["runs"]
        }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per server and connection count")
    parser.add_argument("--connections-64", action="store_true", help="also measure 64 connections")
    parser.add_argument("--with-litserve-engine", action="store_true", help="also litserve_app.py")
    parser.add_argument("--only", nargs="*", help="run only these servers (visionserve, litserve, ...)")
    parser.add_argument("--print-graph", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "peers.json")
    args = parser.parse_args()
    if args.print_graph:
        print(exported_graph())
        return
    wrk.require_wrk()
    counts = [1, 16, 64] if args.connections_64 else [1, 16]
    photo = sample_photo()
    others = {peer.name: peer for peer in peers(photo, args.with_litserve_engine)}
    folder = Path(tempfile.mkdtemp(prefix="visionserve-peers-"))
    results: dict[str, Any] = {}
    try:
        graph = graph_of_tree(folder / "graph")
        labels = served_tree.MODEL_DIR / "imagenet_synsets.txt"
        for name in [n for n in ("visionserve", *others) if not args.only or n in args.only]:
            try:  # one server that fails to start or to answer leaves the others' figures
                if name == "visionserve":
                    results[name] = run_visionserve(photo, folder, counts, args.seconds)
                else:
                    env = peer_environment(others[name], folder, graph, labels)
                    results[name] = run_peer(others[name], env, folder, counts, args.seconds)
            except RuntimeError as error:
                print(f"{name} failed: {error}", flush=True)
                results[name] = {"error": str(error)[-3000:]}
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the servers' data and logs
    summary = {
        name: {c: {k: run[k] for k in FIGURES} for c, run in result["runs"].items()}
        for name, result in results.items()
        if "runs" in result
    }
    report = {
        "benchmark": "peers",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": procs.machine(),
        "model": {"onnx": str(graph), "labels": str(labels), "intra_op_threads": 2},
        "photo": {"source": "dog_bike_car.jpg at 500x375, JPEG quality 85", "bytes": len(photo)},
        "seconds_per_run": args.seconds,
        "top1": {name: result.get("top1") for name, result in results.items()},
        "summary": summary,
        "visionserve_over_peer": ratios(results) if "visionserve" in results else {},
        "servers": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("top1", "summary", "visionserve_over_peer")}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
