"""The service under overload, a killed replica and an explanation flood; writes hardening.json.

Each scenario starts the default config (deploy/serve/local.yaml) on a local Ray with the
changes it names, measures the classifier's capacity in the same run, and drives it:

- overload: the capacity (wrk, 16 connections, closed loop, no shedding); then for each queue
  budget (batching.max_queue_ms) the unloaded latency (open loop at half the capacity) and
  four times the capacity for 60 s, open loop (load_tests/openloop.py: arrivals do not wait
  for answers). Every answer must be 200 or 503 with Retry-After, no connection errors, the
  200s' p99 within 3x the unloaded p99, the replicas' memory bounded (sampled every 5 s).
- kill: two classifier replicas, open loop at half the capacity; SIGKILL one replica's process
  10 s in. The run must finish, failures must be 503s (the ingress retries a request whose
  replica died once, on another), and Serve must start a replacement.
- flood: classify alone (wrk, 16 connections), then the same together with a flood of
  occlusion explanations (open loop, 4 a second); classify must keep at least 60% of its
  throughput alone, excess explanations get 503 and classify none.

    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_hardening.py
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import openloop
import procs
import wrk
from bench_serving import APP, CLASSIFIER, CONFIG, PHOTOS, ROOT, _free_port, _request

OVERLOAD_FACTOR = 4.0


def _config(max_queue_ms: float | None = None, replicas: int | None = None) -> Any:
    """The default config, every model shedding past MAX_QUEUE_MS, REPLICAS of the classifier."""
    from visionserve.config import load_serve_file, parse_service_config

    args = load_serve_file(CONFIG).args
    for model in args["models"]:
        model.setdefault("batching", {})["max_queue_ms"] = max_queue_ms
    if replicas:  # replicas of its own (the default config places it in the ingress)
        classifier = next(m for m in args["models"] if m["name"] == CLASSIFIER)
        classifier["deployment"] = {
            **classifier["deployment"],
            "placement": "replica",
            "num_replicas": replicas,
            "num_cpus": 0.5,
        }
    return parse_service_config(args)


def _start(config: Any, num_cpus: int | None = None) -> Any:
    from visionserve.local import start_local

    service = start_local(
        config, port=_free_port(), grpc_port=None, include_dashboard=False, num_cpus=num_cpus
    )
    service.wait_ready()
    return service


def _capacity(url: str, seconds: float) -> dict[str, Any]:
    wrk.run(url, [_request(CLASSIFIER)], connections=4, seconds=3)  # warm up
    return wrk.run(url, [_request(CLASSIFIER)], connections=16, seconds=seconds)


def _rss() -> dict[str, float]:
    return {name: round(procs.rss_bytes(pid) / 2**20, 1) for name, pid in procs.replicas(APP).items()}


class MemoryWatch:
    """Every replica's RSS every few seconds while a run lasts: bounded means it levels off."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.samples: list[dict[str, float]] = []
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self.samples.append(_rss())

    def __enter__(self) -> MemoryWatch:
        self.samples.append(_rss())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(_rss())

    def growth_mb(self, since: int = 0) -> dict[str, float]:
        """RSS growth per replica from sample SINCE to the last."""
        first, last = self.samples[since], self.samples[-1]
        return {n: round(last[n] - first[n], 1) for n in first if n in last}


def overload(budgets_ms: list[float], seconds: float) -> dict[str, Any]:
    """The capacity as configured by default (no shedding); then, once per queue budget on a
    fresh service with every model shedding past it, the unloaded latency (open loop at half
    the capacity, 30 s), four times the capacity for SECONDS, and half the capacity again."""
    classify = [_request(CLASSIFIER)]
    service = _start(_config())
    try:
        capacity = _capacity(service.url, 10)
        rate = capacity["requests_per_s"]
    finally:
        service.stop()
    runs = []
    for budget in budgets_ms:
        service = _start(_config(max_queue_ms=budget))
        try:
            openloop.run(service.url, classify, rate=rate / 2, seconds=5)  # warm up
            unloaded = openloop.run(service.url, classify, rate=rate / 2, seconds=30)
            with MemoryWatch() as memory:
                loaded = openloop.run(service.url, classify, rate=OVERLOAD_FACTOR * rate, seconds=seconds)
            after = openloop.run(service.url, classify, rate=rate / 2, seconds=10)
        finally:
            service.stop()
        ok_p99, unloaded_p99 = loaded["ok_p99_ms"], unloaded["ok_p99_ms"]
        rss_range = {
            name: round(max(s[name] for s in memory.samples) - min(s[name] for s in memory.samples), 1)
            for name in memory.samples[0]
        }
        runs.append(
            {
                "max_queue_ms": budget,
                "unloaded_half_capacity": unloaded,
                "overload": loaded,
                "recovered_half_capacity": after,
                "memory_mb": memory.samples,
                "checks": {
                    "only_200_and_503": set(loaded["by_status"]) <= {"200", "503"},
                    "every_503_has_retry_after": loaded["shed_without_retry_after"] == 0,
                    "no_connection_errors": loaded["connection_errors"] == 0,
                    "unloaded_p99_ms": unloaded_p99,
                    "ok_p99_ms": ok_p99,
                    "ok_p99_over_unloaded_p99": round(ok_p99 / unloaded_p99, 2) if ok_p99 else None,
                    "ok_p99_within_3x": bool(ok_p99 and ok_p99 <= 3 * unloaded_p99),
                    "served_per_s_over_capacity": round(loaded["ok_per_s"] / rate, 2),
                    "recovered_all_200": set(after["by_status"]) == {"200"},
                    "replica_rss_growth_mb": memory.growth_mb(),
                    "replica_rss_range_mb": rss_range,
                },
            }
        )
        print(json.dumps({"max_queue_ms": budget, **runs[-1]["checks"]}), flush=True)
    return {
        "capacity": capacity,
        "runs": runs,
        "checks": {str(run["max_queue_ms"]): run["checks"] for run in runs},
    }


def kill(seconds: float) -> dict[str, Any]:
    import ray

    service = _start(_config(replicas=2), num_cpus=4)
    try:
        capacity = _capacity(service.url, 10)
        rate = 0.8 * capacity["requests_per_s"]
        title = f"ray::ServeReplica:{APP}:model-{CLASSIFIER}"

        def pids() -> set[int]:
            return {pid for pid, found in procs.ray_workers().items() if found == title}

        victim = min(pids())
        events: dict[str, float] = {}

        def kill_then_watch() -> None:
            time.sleep(10)
            events["killed"] = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            while time.monotonic() - events["killed"] < 120:
                if len(pids() - {victim}) == 2:
                    events["new_process"] = time.monotonic()
                    break
                time.sleep(0.2)

        watcher = threading.Thread(target=kill_then_watch, daemon=True)
        watcher.start()
        loaded = openloop.run(service.url, [_request(CLASSIFIER)], rate=rate, seconds=seconds)
        watcher.join()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _running_replicas() < 2:
            time.sleep(1)
        running = _running_replicas()
        logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
        retried = sum(
            path.read_text(errors="replace").count("died under a request")
            for path in logs.rglob("*")
            if path.is_file() and path.suffix in (".err", ".out", ".log")
        )
    finally:
        service.stop()
    failures = {code: n for code, n in loaded["by_status"].items() if code != "200"}
    return {
        "offered_rate": rate,
        "capacity": capacity,
        "run": loaded,
        "killed_pid": victim,
        "new_replica_process_after_s": round(events["new_process"] - events["killed"], 1)
        if "new_process" in events
        else None,
        "requests_retried_on_the_other_replica": retried,
        "checks": {
            "failures": failures,
            "failures_only_503": set(failures) <= {"503"},
            "no_connection_errors": loaded["connection_errors"] == 0,
            "replica_replaced": running == 2 and "new_process" in events,
        },
    }


def _running_replicas() -> int:
    from ray import serve

    status = serve.status().applications[APP].deployments[f"model-{CLASSIFIER}"]
    return int(status.replica_states.get("RUNNING", 0))  # type: ignore[call-overload]


def flood(seconds: float, explain_rate: float) -> dict[str, Any]:
    service = _start(_config())
    try:
        classify = [_request(CLASSIFIER)]
        alone = _capacity(service.url, seconds)
        occlusion = wrk.multipart("/v1/explain", [PHOTOS[CLASSIFIER]], model=CLASSIFIER, methods="occlusion")
        result: dict[str, Any] = {}

        def explain_flood() -> None:
            result["explain"] = openloop.run(
                service.url, [occlusion], rate=explain_rate, seconds=seconds + 10, timeout_s=400
            )

        flooder = threading.Thread(target=explain_flood)
        flooder.start()
        time.sleep(5)  # let the explainer's queue fill
        together = wrk.run(service.url, classify, connections=16, seconds=seconds)
        flooder.join()
        again = wrk.run(service.url, classify, connections=16, seconds=seconds)
    finally:
        service.stop()
    explain = result["explain"]
    return {
        "classify_alone": alone,
        "classify_during_flood": together,
        "classify_after_flood": again,
        "explain_flood": explain,
        "checks": {
            "classify_share_of_alone": round(together["requests_per_s"] / alone["requests_per_s"], 3),
            "classify_keeps_60_percent": together["requests_per_s"] >= 0.6 * alone["requests_per_s"],
            "classify_errors": together["http_errors"] + together["socket_errors"],
            "explain_statuses": explain["by_status"],
            "explain_only_200_and_503": set(explain["by_status"]) <= {"200", "503"},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenarios", nargs="*", default=["overload", "kill", "flood"])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the overload run")
    parser.add_argument("--max-queue-ms", type=float, nargs="+", default=[20.0, 25.0, 50.0, 100.0])
    parser.add_argument("--explain-rate", type=float, default=4.0)
    parser.add_argument("--out", type=Path, default=ROOT / "load_tests" / "results" / "hardening.json")
    args = parser.parse_args()
    wrk.require_wrk()
    report: dict[str, Any] = {"benchmark": "hardening", "machine": procs.machine()}
    if args.out.exists():
        report.update(json.loads(args.out.read_text()))
    report["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for scenario in args.scenarios:
        if scenario == "overload":
            report["overload"] = overload(args.max_queue_ms, args.seconds)
        elif scenario == "kill":
            report["kill"] = kill(40)
        elif scenario == "flood":
            report["flood"] = flood(20, args.explain_rate)
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
        print(json.dumps({scenario: report[scenario]["checks"]}), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
