"""KServe's Python SDK (InferenceRESTClient and InferenceGRPCClient, unmodified) against the
service, from the environment of its own that scripts/install-kserve-client makes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.helpers import CAT_LABELS, IMAGES, image_bytes

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
KSERVE_PYTHON = ROOT / ".venv-kserve" / "bin" / "python"
CLASSIFIER = "efficientnet-lite0"


def test_kserve_clients_infer_and_print_errors(service: str, grpc_target: str) -> None:
    assert KSERVE_PYTHON.exists(), "KServe's client is missing: run scripts/install-kserve-client"
    script, image = ROOT / "tests" / "kserve_calls.py", IMAGES / "chelsea.png"
    ran = subprocess.run(
        [str(KSERVE_PYTHON), str(script), service, grpc_target, CLASSIFIER, str(image)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    found = json.loads(ran.stdout.strip().splitlines()[-1])
    files = [("images", ("c.png", image_bytes("chelsea.png")))]
    v1 = httpx.post(f"{service}/v1/classify", files=files, timeout=60).json()["results"][0]["classes"][0]
    assert v1["label"] in CAT_LABELS
    for protocol in ("rest", "grpc"):
        answers = found[protocol]
        assert (answers["live"], answers["ready"], answers["model_ready"]) == (True, True, True), protocol
        for encoding in ("binary", "json") if protocol == "rest" else ("binary",):
            top = answers[encoding]
            assert top["id"] == "kserve-1"
            assert top["label"] == v1["label"], (protocol, encoding)
            assert top["score"] == pytest.approx(v1["score"], abs=1e-5)
    assert found["rest"]["error"]["status"] == 404
    assert "model_not_found: " in found["rest"]["error"]["printed"]
    assert found["grpc"]["error"]["status"] == "NOT_FOUND"
    assert found["grpc"]["error"]["printed"].startswith("model_not_found: ")
