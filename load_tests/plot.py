"""Plot a bench_serving.py report: throughput and p50/p99 latency against concurrency."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot(report: dict[str, Any], out: Path) -> None:
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(12, 4.8))
    series: dict[str, list[dict[str, Any]]] = {}
    for row in report["served"]:
        series.setdefault(f"VisionServe {row['workload']}", []).append(row)
    series["LitServe classify"] = report["litserve"]
    for label, rows in series.items():
        if len(rows) < 2:
            continue
        xs = [r["connections"] for r in rows]
        (line,) = throughput.plot(xs, [r["images_per_s"] for r in rows], marker="o", label=label)
        latency.plot(
            xs, [r["p50_ms"] for r in rows], marker="o", color=line.get_color(), label=f"{label} p50"
        )
        latency.plot(
            xs,
            [r["p99_ms"] for r in rows],
            marker="x",
            linestyle="--",
            color=line.get_color(),
            label=f"{label} p99",
        )
    bare = report["bare_pipeline"]["efficientnet-lite0"]["best_images_per_s"]
    throughput.axhline(bare, color="grey", linestyle=":", label="bare classify pipeline (best batch)")
    for axis in (throughput, latency):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("connections")
        axis.grid(alpha=0.3)
    throughput.set_ylabel("images / s")
    throughput.set_title("Throughput")
    latency.set_yscale("log")
    latency.set_ylabel("ms")
    latency.set_title("Latency")
    throughput.legend(fontsize=7)
    latency.legend(fontsize=6, ncol=2)
    figure.suptitle(f"VisionServe on {report['machine']['cpus']} CPUs, {report['when']}")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    source = Path(sys.argv[1])
    plot(json.loads(source.read_text()), source.with_suffix(".png"))
