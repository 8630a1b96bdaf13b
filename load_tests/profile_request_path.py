"""Where the server's CPU goes on the one-image classify path: py-spy samples the ingress
replica (which holds the classifier) while wrk sends one 47 KB JPEG per request over 16
connections; the samples are folded into a share per function (own time) and per line of
our code (inclusive), with server CPU ms per request from /proc.

    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/profile_request_path.py

Writes load_tests/results/request_profile.json (and the folded stacks beside it, for a flame
graph: `flamegraph.pl request_profile.folded > profile.svg`).
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs
import served_tree
import wrk
from bench_request_path import bench_args, cpu_by_title, serving_pids

ROOT = Path(__file__).resolve().parents[1]
LOCAL_CONFIG = ROOT / "deploy" / "serve" / "local.yaml"
IMAGES = ROOT.parent / "shared" / "images"


def sample_photo() -> bytes:
    """dog_bike_car.jpg at 500x375, JPEG quality 85: 46.6 KB, a typical upload thumbnail."""
    image = Image.open(IMAGES / "dog_bike_car.jpg").convert("RGB").resize((500, 375))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def shares(folded: Path, top: int = 25) -> dict[str, Any]:
    own: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    total = idle = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaf = frames[-1]
        if any(
            word in leaf
            for word in ("select (", "epoll_wait", "_wait_for_tstate_lock", "wait (threading", "poll (")
        ):
            idle += count
            continue
        own[leaf] += count
        for frame in set(frames):
            if "visionserve/" in frame:
                ours[frame] += count
    active = max(total - idle, 1)
    return {
        "samples": total,
        "active_samples": active,
        "own_time_share": {name: round(c / active, 4) for name, c in own.most_common(top)},
        "inclusive_share_of_our_functions": {name: round(c / active, 4) for name, c in ours.most_common(top)},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "request_profile.json")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="visionserve-profile-"))
    served = served_tree.start(ROOT, served_tree.serve_file(LOCAL_CONFIG, bench_args()), folder)
    try:
        request = wrk.multipart("/v1/classify", [sample_photo()], top_k="5")
        wrk.run(served.url, [request], connections=args.connections, seconds=5)  # warm
        ingress = next(
            pid for pid, title in serving_pids(served).items() if "Ingress" in title or "ingress" in title
        )
        folded = args.out.with_suffix(".folded")
        folded.parent.mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(ingress), "--duration",
             str(int(args.seconds)), "--rate", "250", "--format", "raw", "--threads", "--output", str(folded),
             "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        pids = serving_pids(served)
        before, started = cpu_by_title(pids), time.perf_counter()
        result = wrk.run(served.url, [request], connections=args.connections, seconds=args.seconds)
        after, wall = cpu_by_title(pids), time.perf_counter() - started
        _, spy_errors = spy.communicate(timeout=args.seconds + 60)
        if not folded.is_file():
            raise RuntimeError(f"py-spy wrote no profile: {spy_errors.decode(errors='replace')[-2000:]}")
        requests = max(result["requests"], 1)
        cpu_ms = {t: round(1000 * (after[t] - before.get(t, 0.0)) / requests, 3) for t in after}
        report = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": procs.machine(),
            "connections": args.connections,
            "wall_s": round(wall, 1),
            "requests_per_s": result["requests_per_s"],
            "latency_ms": {k: result.get(k) for k in ("p50_ms", "p90_ms", "p99_ms")},
            "server_cpu_ms_per_request": cpu_ms,
            "server_cpu_ms_per_request_total": round(sum(cpu_ms.values()), 3),
            "profile_of_ingress": shares(folded),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(json.dumps(report, indent=1))
    finally:
        served.stop()


if __name__ == "__main__":
    main()
