"""Where the classifier's work runs, compared side by side: the decode threads' priority, and
the model in its own replica or inside the ingress.

Two applications on one local Ray, identical but for one setting, run alternately by
ab.compare (explainer and pipelines left out); rows: classify at 1 and 16 connections and with
8 images per request at 16. ``--setting placement``: the classifier inside the ingress ("on")
against its own replica; ``--setting decode_low``: decode threads at nice 19 ("on") against the
model's priority; ``decode_idle``: at SCHED_IDLE ("on") against nice 19; ``decode_threads``: one
decode thread ("on") against two. Writes
load_tests/results/<setting>.json.

    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_placement.py --setting placement
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ab
from bench_serving import CLASSIFIER, ROOT, _request, service_config

from visionserve.config import DeploymentConfig

ROWS = [
    ("classify", [_request(CLASSIFIER)], 1),
    ("classify", [_request(CLASSIFIER)], 16),
    ("classify x8", [_request(CLASSIFIER, 8)], 16),
]


def _classifier_only(config: Any) -> Any:
    explainer = config.explainer.model_copy(update={"enabled": False})
    models = [m for m in config.models if m.name == CLASSIFIER]
    return config.model_copy(update={"pipelines": [], "explainer": explainer, "models": models})


def _with_deployment(config: Any, **changes: Any) -> Any:
    def changed(m: Any) -> Any:
        return m.model_copy(update={"deployment": m.deployment.model_copy(update=changes)})

    return config.model_copy(update={"models": [changed(m) for m in config.models]})


def main() -> None:
    setting = sys.argv[sys.argv.index("--setting") + 1] if "--setting" in sys.argv else "placement"
    if "--setting" in sys.argv:
        at = sys.argv.index("--setting")
        del sys.argv[at : at + 2]
    args = ab.arguments(ROOT / "load_tests" / "results" / f"{setting}.json")
    if setting == "placement":
        on = _classifier_only(service_config([CLASSIFIER]))
        own = DeploymentConfig(placement="replica", num_cpus=0.5)
        off = on.model_copy(update={"models": [on.models[0].model_copy(update={"deployment": own})]})
    elif setting in ("decode_low", "decode_idle"):
        base = _classifier_only(service_config([CLASSIFIER]))
        on_priority, off_priority = ("low", "normal") if setting == "decode_low" else ("idle", "low")
        on = _with_deployment(base, decode_priority=on_priority)
        off = _with_deployment(base, decode_priority=off_priority)
    elif setting == "decode_threads":
        base = _classifier_only(service_config([CLASSIFIER]))
        on, off = _with_deployment(base, decode_threads=1), _with_deployment(base, decode_threads=2)
    else:
        raise SystemExit(f"--setting: placement, decode_low, decode_idle or decode_threads, not {setting!r}")
    ab.compare(setting, on, off, ROWS, args)


if __name__ == "__main__":
    main()
