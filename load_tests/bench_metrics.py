"""What metrics cost the serving path: the same rows with metrics on and off, side by side.

Two applications on one local Ray, identical but for ``metrics.enabled`` (explainer and
pipelines left out: no row uses them), run alternately by ab.compare. Rows: classify at 1 and
16 connections, classify with 8 images per request, detect and segment at 16. Writes
load_tests/results/metrics.json.

    load_tests/install-tools
    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_metrics.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ab
from bench_serving import CLASSIFIER, CONFIG, DETECTOR, ROOT, SEGMENTER, _request

ROWS = [
    ("classify", [_request(CLASSIFIER)], 1),
    ("classify", [_request(CLASSIFIER)], 16),
    ("classify x8", [_request(CLASSIFIER, 8)], 16),
    ("detect", [_request(DETECTOR)], 16),
    ("segment", [_request(SEGMENTER)], 16),
]


def main() -> None:
    args = ab.arguments(ROOT / "load_tests" / "results" / "metrics.json")
    from visionserve.config import MetricsConfig, load_serve_file, parse_service_config

    config = parse_service_config(load_serve_file(CONFIG).args)
    config = config.model_copy(
        update={"pipelines": [], "explainer": config.explainer.model_copy(update={"enabled": False})}
    )
    on = config.model_copy(update={"metrics": MetricsConfig(enabled=True)})
    off = config.model_copy(update={"metrics": MetricsConfig(enabled=False)})
    ab.compare("metrics", on, off, ROWS, args)


if __name__ == "__main__":
    main()
