"""Seconds until the service's ports answer again after its ingress replica is killed; writes
results/recovery.json.

`visionserve serve` of the default config's classifier alone (in the ingress replica, as
deploy/serve/local.yaml places it) on free ports; KILLS times, once the service answers on all
its ports: SIGKILL to the ingress replica while a client holds an idle keep-alive connection,
then the time until HTTP (/readyz 200), gRPC (ListModels) and the metrics port answer again.

    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_recovery.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.serve_process import LOCAL_CONFIG, kill_ingress_and_time, start_serve  # noqa: E402

LIMIT_S = 120.0


def run(kills: int) -> dict[str, Any]:
    from tests.helpers import classifier_app
    from visionserve.config import load_serve_file, parse_service_config

    config = classifier_app(parse_service_config(load_serve_file(LOCAL_CONFIG).args))
    served = start_serve(config, Path(tempfile.mkdtemp(prefix="vs-bench-recovery-")))
    runs = []
    try:
        for _ in range(kills):
            while not all(served.answers().values()):
                time.sleep(1)
            time.sleep(5)  # settled: metrics exported, the new replica warm
            back = kill_ingress_and_time(served, limit_s=LIMIT_S)
            print(json.dumps(back), flush=True)
            runs.append(back)
    finally:
        served.stop()
    summary = {port: _summary([r[port] for r in runs]) for port in ("http", "grpc", "metrics")}
    return {
        "kills": kills,
        "limit_s": LIMIT_S,
        "runs": runs,
        "summary": summary,
        "reported_moved_port": "is now served on port" in served.output(),
    }


def _summary(seconds: list[float | None]) -> dict[str, Any]:
    back = [s for s in seconds if s is not None]
    return {
        "median_s": statistics.median(back) if back else None,
        "max_s": max(back, default=None),
        "not_back": len(seconds) - len(back),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "recovery.json")
    args = parser.parse_args()
    result = run(args.kills)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
