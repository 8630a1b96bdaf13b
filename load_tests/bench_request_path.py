"""What the request path costs, one tree against another: server CPU milliseconds per request
and wall p50 of the hot routes, A (the tree before a change) and B (after), side by side.

    git worktree add ../base 868ae22
    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_request_path.py \\
        --a ../base --b . --rounds 3 --seconds 6

Each tree is served by served_tree.py (its own `visionserve serve`, its own Ray, its code first
on every worker's path) with one config: deploy/serve/local.yaml's classifier (in the ingress)
and explainer, no other model. Both stay up; each route is warmed on both, then run for
SECONDS on one and then the other, the order alternating each round, so that the machine's
drift hits both. One connection, requests back to back. Server CPU is user + system time,
read from /proc as procs.py does, of the Serve replicas and proxy below that tree's
`visionserve serve` (the processes that serve the app; Ray's controller, GCS and raylet are
left out). Writes load_tests/results/request_path.json: per route and tree the median over
the rounds of CPU ms per request and of p50, B/A ratios, and every run.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs
import served_tree

ROOT = Path(__file__).resolve().parents[1]
LOCAL_CONFIG = ROOT / "deploy" / "serve" / "local.yaml"
IMAGES = Path(os.environ.get("VISIONSERVE_TEST_IMAGES", ROOT.parent / "shared" / "images"))
BOUNDARY = "visionserve-bench-boundary"
# The processes that serve the application's requests (titles as Ray sets them).
SERVING = ("ray::ServeReplica:", "ray::ProxyActor")


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    body: bytes = b""
    content_type: str | None = None


def multipart(image: bytes, filename: str, **fields: str) -> tuple[bytes, str]:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="images"; filename="{filename}"\r\n'
    parts.append(head.encode() + b"Content-Type: image/jpeg\r\n\r\n" + image + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode(), f"multipart/form-data; boundary={BOUNDARY}"


def routes(model: str, image_name: str) -> list[Route]:
    """The hot routes: one-image classification (by task and by model name, the Open Inference
    Protocol's infer), explanations by cheap methods (saliency, Grad-CAM), the model list."""
    image = (IMAGES / image_name).read_bytes()
    classify, form = multipart(image, image_name)
    explain, explain_form = multipart(image, image_name, methods="saliency")
    gradcam, gradcam_form = multipart(image, image_name, methods="gradcam")
    tensor = {"name": "images", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(image).decode()]}
    infer = json.dumps({"inputs": [tensor]}).encode()
    return [
        Route("POST /v1/classify", "POST", "/v1/classify", classify, form),
        Route(
            f"POST /v2/models/{model}/infer", "POST", f"/v2/models/{model}/infer", infer, "application/json"
        ),
        Route("POST /v1/explain (saliency)", "POST", "/v1/explain", explain, explain_form),
        Route("POST /v1/explain (gradcam)", "POST", "/v1/explain", gradcam, gradcam_form),
        Route("GET /v1/models", "GET", "/v1/models"),
    ]


def bench_args() -> dict[str, Any]:
    """local.yaml's application args with its classifier and explainer only."""
    args: dict[str, Any] = served_tree.serve_file(LOCAL_CONFIG)["applications"][0]["args"]
    args["models"] = args["models"][:1]
    args["pipelines"] = []
    return args


def serving_pids(served: served_tree.ServedTree) -> dict[int, str]:
    """pid -> title of the tree's Serve replicas and proxy."""
    found = {}
    for pid in served_tree.descendants(served.process.pid):
        title = served_tree.title(pid).split(" ")[0]
        if title.startswith(SERVING):
            found[pid] = title
    return found


def cpu_by_title(pids: dict[int, str]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for pid, title in pids.items():
        totals[title] = totals.get(title, 0.0) + served_tree.cpu_seconds(pid)
    return totals


def send(client: httpx.Client, route: Route) -> float:
    headers = {"content-type": route.content_type} if route.content_type else {}
    start = time.perf_counter()
    response = client.request(route.method, route.path, content=route.body or None, headers=headers)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{route.name}: {response.status_code} {response.text[:300]}")
    return elapsed


def run(served: served_tree.ServedTree, route: Route, seconds: float) -> dict[str, Any]:
    """ROUTE back to back for SECONDS: requests, CPU ms per request (total and per process) and latency."""
    pids = serving_pids(served)
    latencies: list[float] = []
    with httpx.Client(base_url=served.url, timeout=60) as client:
        send(client, route)  # the connection is open before the clocks start
        before = cpu_by_title(pids)
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            latencies.append(send(client, route))
        wall = time.perf_counter() - start
        after = cpu_by_title(pids)
    n = len(latencies)
    per_title = {t: round(1000 * (after[t] - before[t]) / n, 3) for t in sorted(after)}
    quantiles = statistics.quantiles(latencies, n=100) if n > 1 else latencies * 99
    return {
        "requests": n,
        "requests_per_s": round(n / wall, 2),
        "cpu_ms_per_request": round(sum(per_title.values()), 3),
        "cpu_ms_per_request_by_process": per_title,
        "p50_ms": round(1000 * statistics.median(latencies), 3),
        "p90_ms": round(1000 * quantiles[89], 3),
    }


def summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians over the rounds per tree (also per process), B/A ratios of the medians, and the
    median of each round's own B/A (the rounds run back to back: that cancels slow drift)."""

    def median(values: list[float]) -> float:
        return round(float(statistics.median(values)), 3)

    figures: dict[str, Any] = {}
    for tree in ("A", "B"):
        figures[tree] = {k: median([r[k] for r in runs[tree]]) for k in ("cpu_ms_per_request", "p50_ms")}
        titles = runs[tree][0]["cpu_ms_per_request_by_process"]
        figures[tree]["cpu_ms_per_request_by_process"] = {
            t: median([r["cpu_ms_per_request_by_process"].get(t, 0.0) for r in runs[tree]]) for t in titles
        }
    a, b = figures["A"], figures["B"]
    cpu = "cpu_ms_per_request"
    paired = [y[cpu] / x[cpu] for x, y in zip(runs["A"], runs["B"], strict=True)]
    return {
        **figures,
        "cpu_ratio_b_over_a": round(b[cpu] / a[cpu], 3),
        "cpu_ratio_b_over_a_paired": median(paired),
        "cpu_ratio_b_over_a_by_process": {
            t: round(b[f"{cpu}_by_process"].get(t, 0.0) / v, 3)
            for t, v in a[f"{cpu}_by_process"].items()
            if v > 0
        },
        "p50_ratio_b_over_a": round(b["p50_ms"] / a["p50_ms"], 3),
    }


def describe(tree: Path) -> dict[str, str]:
    def git(*command: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tree), *command], capture_output=True, text=True
        ).stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    return {"path": str(tree), "commit": git("rev-parse", "HEAD"), "uncommitted_files": str(len(changed))}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--a", type=Path, required=True, help="tree A: before (e.g. a worktree of the base)")
    parser.add_argument("--b", type=Path, default=ROOT, help="tree B: after (default this checkout)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0, help="per route, tree and round")
    parser.add_argument("--warmup-s", type=float, default=3.0, help="per route and tree, before round 1")
    parser.add_argument("--routes", nargs="*", help="run only the routes whose name holds one of these")
    parser.add_argument("--image", default="grace_hopper.jpg", help="a JPEG of ../shared/images")
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "request_path.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    config = served_tree.serve_file(LOCAL_CONFIG, bench_args())
    folder = Path(tempfile.mkdtemp(prefix="vs-bench-request-path-"))
    trees = {"A": args.a.resolve(), "B": args.b.resolve()}
    served: dict[str, served_tree.ServedTree] = {}
    results: dict[str, Any] = {}
    try:
        for tree, path in trees.items():  # one at a time: two start-ups at once starve each other
            served[tree] = served_tree.start(path, config, folder / tree)
            print(f"{tree}: {path} at {served[tree].url}", flush=True)
        chosen = routes(config["applications"][0]["args"]["models"][0]["name"], args.image)
        for route in [r for r in chosen if not args.routes or any(w in r.name for w in args.routes)]:
            for tree in trees:
                run(served[tree], route, args.warmup_s)
            runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
            for round_ in range(args.rounds):
                for tree in ("A", "B") if round_ % 2 == 0 else ("B", "A"):
                    measured = run(served[tree], route, args.seconds)
                    runs[tree].append(measured)
                    shown = {k: measured[k] for k in ("requests", "cpu_ms_per_request", "p50_ms")}
                    print(f"{route.name} {tree} round {round_ + 1}: {json.dumps(shown)}", flush=True)
            results[route.name] = {**summary(runs), "runs": runs}
            print(json.dumps({route.name: {k: v for k, v in results[route.name].items() if k != "runs"}}))
    finally:
        for service in served.values():
            service.stop()
        shutil.rmtree(folder, ignore_errors=True)  # the services' data and logs
    report = {
        "benchmark": "request_path",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": procs.machine(),
        "trees": {tree: describe(path) for tree, path in trees.items()},
        "config": "deploy/serve/local.yaml: the classifier (in the ingress) and the explainer",
        "image": args.image,
        "counted_processes": list(SERVING),
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "routes": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
