"""Lint and types are part of the suite: ruff everywhere, mypy --strict on the client and the server."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_check_is_clean() -> None:
    result = _run("ruff", "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_client_passes_mypy_strict() -> None:
    result = _run("mypy", "--strict", "clients/python/visionserve_client")
    assert result.returncode == 0, result.stdout + result.stderr


def test_server_passes_mypy_strict() -> None:
    # pyproject.toml's [tool.mypy] gives the search path, leaves out the generated gRPC code
    # (visionserve/v1/) and names the third-party packages that ship no types.
    result = _run("mypy", "--strict", "-p", "visionserve")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_ingress_unpickles_replica_answers_without_torch() -> None:
    # Replicas answer with pickled objects; unpickling imports the modules that define them.
    code = (
        "import pickle, sys; from visionserve.outputs import PredictOutput; "
        "from visionserve_client.types import ClassScore, Classification, ImageSize; "
        "size = ImageSize(width=2, height=2); score = ClassScore(index=1, label='a', score=0.5); "
        "out = PredictOutput(model_version='v', results=[Classification(image=size, classes=[score])]); "
        "data = pickle.dumps(out); "
        "[sys.modules.pop(m) for m in list(sys.modules) if m.startswith('visionserve')]; "
        "pickle.loads(data); import visionserve.ingress.api; print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.stdout.strip() == "False", result.stderr[-2000:]


def test_the_ingress_does_not_import_torch() -> None:
    code = "import sys, visionserve.ingress.api; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.stdout.strip() == "False", result.stderr[-2000:]
