"""A user's VisionModel served in-process from each weights format it may come in."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.fixtures.user_models import TinyConvNet
from tests.helpers import image_bytes
from visionserve.config import ModelConfig
from visionserve.engine import ModelEngine

LIMIT = 40_000_000


def _config(source: dict[str, Any], backend: str = "torch") -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "name": "tiny",
            "task": "classification",
            "source": {"kind": "python", "class_path": "tests.fixtures.user_models:TinyNet", **source},
            "preprocess": {},
            "runtime": {"backend": backend, "threads": 1},
        }
    )


def _file(path: Path) -> dict[str, str]:
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _scores(engine: ModelEngine) -> list[float]:
    item = engine.prepare(image_bytes("chelsea.png"), max_pixels=LIMIT)
    result = engine.infer([item], [engine.parse_params({"top_k": 3})])[0]
    return [c.score for c in sorted(result.classes, key=lambda c: c.index)]  # type: ignore[attr-defined]


# TorchScript is deprecated in torch but still what many users' models come as.
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_every_weights_format_gives_the_same_answer(tmp_path: Path) -> None:
    torch.manual_seed(7)
    network = TinyConvNet(3).eval()
    torch.save(network.state_dict(), tmp_path / "tiny.pt")
    torch.jit.save(torch.jit.script(network), str(tmp_path / "tiny.ts"))
    torch.onnx.export(
        network,
        (torch.zeros(1, 3, 32, 32),),
        str(tmp_path / "tiny.onnx"),
        dynamo=False,
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
    )
    engines = {
        "state_dict": ModelEngine(
            _config({"format": "state_dict", "weights": _file(tmp_path / "tiny.pt")}),
            model_dirs=[tmp_path],
            cache_dir=tmp_path,
        ),
        "torchscript": ModelEngine(
            _config({"format": "torchscript", "weights": _file(tmp_path / "tiny.ts")}),
            model_dirs=[tmp_path],
            cache_dir=tmp_path,
        ),
        "onnx": ModelEngine(
            _config({"format": "onnx", "weights": _file(tmp_path / "tiny.onnx")}, backend="onnxruntime"),
            model_dirs=[tmp_path],
            cache_dir=tmp_path,
        ),
    }
    reference = _scores(engines["state_dict"])
    assert engines["state_dict"].labels == ["reddish", "greenish", "bluish"]
    for name, engine in engines.items():
        assert np.allclose(_scores(engine), reference, atol=1e-5), name
    assert engines["onnx"].version == hashlib.sha256((tmp_path / "tiny.onnx").read_bytes()).hexdigest()


def test_random_weights_and_config_labels(tmp_path: Path) -> None:
    engine = ModelEngine(
        _config({"weights": "random", "seed": 3, "labels": ["a", "b", "c"]}),
        model_dirs=[],
        cache_dir=tmp_path,
    )
    assert engine.labels == ["a", "b", "c"]
    assert len(engine.version) == 64
    item = engine.prepare(image_bytes("coffee.png"), max_pixels=LIMIT)
    result = engine.infer([item], [engine.parse_params({"top_k": 2})])[0]
    assert len(result.classes) == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"class_path": "tests.fixtures.user_models:Nope", "weights": "random"}, "cannot import"),
        ({"class_path": "tests.fixtures.user_models:TinyConvNet", "weights": "random"}, "not a subclass"),
    ],
)
def test_bad_user_classes_fail_at_load(tmp_path: Path, source: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelEngine(_config(source), model_dirs=[], cache_dir=tmp_path)


def test_user_config_needs_a_format_for_files() -> None:
    with pytest.raises(ValueError, match=r"needs source\.format"):
        _config({"weights": {"file": "x.pt", "sha256": "0" * 64}})
