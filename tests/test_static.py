"""Lint and types are part of the suite: ruff everywhere, mypy --strict on the client."""

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


def test_the_ingress_does_not_import_torch() -> None:
    code = "import sys, visionserve.ingress.api; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.stdout.strip() == "False", result.stderr[-2000:]
