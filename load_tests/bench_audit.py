"""What the audit trail costs the serving path: classify with auditing on and off, side by side.

Two applications on one local Ray, identical but for ``audit.enabled`` (the embedded SQLite
store, in a temporary folder; explainer and pipelines left out), run alternately by
ab.compare: classify at 1 and 16 connections and with 8 images per request. The JSON ends with
the audit writer's counts (written, dropped) after the rows. Writes
load_tests/results/audit.json.

    load_tests/install-tools
    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_audit.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ab
from bench_serving import CLASSIFIER, CONFIG, ROOT, _request

ROWS = [
    ("classify", [_request(CLASSIFIER)], 1),
    ("classify", [_request(CLASSIFIER)], 16),
    ("classify x8", [_request(CLASSIFIER, 8)], 16),
]


def _status(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/v1/audit/status", timeout=30).json())


def main() -> None:
    args = ab.arguments(ROOT / "load_tests" / "results" / "audit.json")
    from visionserve.config import load_serve_file, parse_service_config

    config = parse_service_config(load_serve_file(CONFIG).args)
    config = config.model_copy(
        update={"pipelines": [], "explainer": config.explainer.model_copy(update={"enabled": False})}
    )
    folder = Path(tempfile.mkdtemp(prefix="vs-audit-bench-"))
    audit = config.audit.model_copy(update={"enabled": True, "sqlite_path": str(folder / "audit.sqlite3")})
    on = config.model_copy(update={"audit": audit})
    off = config.model_copy(update={"audit": audit.model_copy(update={"enabled": False})})
    ab.compare("audit", on, off, ROWS, args, after=_status)


if __name__ == "__main__":
    main()
