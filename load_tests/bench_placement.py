"""Where the classifier's work runs, compared side by side: the decode threads' priority, and
the model in its own replica or inside the ingress.

Two applications on one local Ray, identical but for one setting, run alternately by
ab.compare (explainer and pipelines left out); rows: classify at 1 and 16 connections and with
8 images per request at 16. ``--setting decode_nice``: decoding 10 below inference ("on")
against equal priority; ``--setting placement``: the classifier inside the ingress ("on")
against its own replica. Writes load_tests/results/<setting>.json.

    VISIONSERVE_MODEL_DIR=../shared/models .venv/bin/python load_tests/bench_placement.py --setting placement
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ab
from bench_serving import CLASSIFIER, ROOT, _request, service_config

ROWS = [
    ("classify", [_request(CLASSIFIER)], 1),
    ("classify", [_request(CLASSIFIER)], 16),
    ("classify x8", [_request(CLASSIFIER, 8)], 16),
]


def _classifier_only(config: Any) -> Any:
    explainer = config.explainer.model_copy(update={"enabled": False})
    models = [m for m in config.models if m.name == CLASSIFIER]
    return config.model_copy(update={"pipelines": [], "explainer": explainer, "models": models})


def _with_decode_nice(config: Any, nice: int) -> Any:
    def changed(m: Any) -> Any:
        return m.model_copy(update={"deployment": m.deployment.model_copy(update={"decode_nice": nice})})

    return config.model_copy(update={"models": [changed(m) for m in config.models]})


def main() -> None:
    setting = sys.argv[sys.argv.index("--setting") + 1] if "--setting" in sys.argv else "placement"
    if "--setting" in sys.argv:
        at = sys.argv.index("--setting")
        del sys.argv[at : at + 2]
    args = ab.arguments(ROOT / "load_tests" / "results" / f"{setting}.json")
    if setting == "placement":
        on = _classifier_only(service_config([CLASSIFIER]))
        off = _classifier_only(service_config([]))
    elif setting == "decode_nice":
        base = _classifier_only(service_config([CLASSIFIER]))
        on, off = _with_decode_nice(base, 10), _with_decode_nice(base, 0)
    else:
        raise SystemExit(f"--setting: placement or decode_nice, not {setting!r}")
    ab.compare(setting, on, off, ROWS, args)


if __name__ == "__main__":
    main()
