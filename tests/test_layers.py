"""The shape of the code holds: the pure layers (imaging, registry, runtime, tasks, explain,
understand, pipelines) import no Ray, neither in their own source nor through what they import,
and no hand-written file of the server or the client outgrows what a reader can hold."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "services" / "visionserve"
PURE_LAYERS = ("imaging", "registry", "runtime", "tasks", "explain", "understand", "pipelines")
MAX_LINES = 400
GENERATED = ("services/visionserve/v1/",)  # protoc's gRPC modules


def _modules(layer: str) -> list[str]:
    return sorted(
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in (PACKAGE / layer).rglob("*.py")
    )


def _imported_names(path: Path) -> set[str]:
    """Every module a file imports, at any depth (inside functions too), by its full name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", PURE_LAYERS)
def test_no_file_of_a_pure_layer_imports_ray(layer: str) -> None:
    offenders = {}
    for path in (PACKAGE / layer).rglob("*.py"):
        names = sorted(n for n in _imported_names(path) if n == "ray" or n.startswith("ray."))
        if names:
            offenders[str(path.relative_to(ROOT))] = names
    assert offenders == {}


def test_importing_every_pure_module_loads_no_ray() -> None:
    """What the layers import, transitively, in a fresh interpreter: a helper module that pulls
    Ray in (a metrics or settings module, say) fails here even if no file names Ray itself."""
    modules = [module for layer in PURE_LAYERS for module in _modules(layer)]
    assert len(modules) > 30
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    if 'ray' in sys.modules:\n"
        "        print(json.dumps(name)); break\n"
        "else:\n"
        "    print(json.dumps(None))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) is None, "this module brought Ray in"


def test_the_check_sees_a_module_that_imports_ray(tmp_path: Path) -> None:
    """The static check is not vacuous: a file importing Ray in a function is caught."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from ray import serve\n    import ray.util\n")
    assert _imported_names(sample) == {"ray", "ray.util"}


def test_no_hand_written_file_of_the_server_or_client_is_over_400_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for folder in ("services", "clients")
        for path in (ROOT / folder).rglob("*.py")
        if not str(path.relative_to(ROOT)).startswith(GENERATED)
    }
    assert len(sizes) > 100
    assert {path: lines for path, lines in sizes.items() if lines > MAX_LINES} == {}
