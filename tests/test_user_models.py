"""A user's VisionModel served in-process from each weights format it may come in."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.fixtures.user_models import ColourCellDetector, ColourCells, TinyConvNet
from tests.helpers import image_bytes, red_and_blue_png
from visionserve.config import ModelConfig
from visionserve.custom import RequestOptions
from visionserve.engine import ModelEngine
from visionserve_client.types import Detection

LIMIT = 40_000_000
FIXTURES = "tests.fixtures.user_models"


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


def _cells_config(source: dict[str, Any], backend: str) -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "name": "cells",
            "task": "detection",
            "source": {"kind": "python", "class_path": f"{FIXTURES}:ColourCellDetector", **source},
            "preprocess": {},
            "runtime": {"backend": backend, "threads": 1},
            "defaults": {"iou_threshold": 0.5},
        }
    )


def _detect(engine: ModelEngine, **options: Any) -> list[Detection]:
    images = [engine.prepare(red_and_blue_png(), max_pixels=LIMIT) for _ in range(2)]
    params = engine.parse_params(options)
    first, second = engine.infer(images, [params, params])
    assert first == second  # each image of a batch gets its own rows of every output
    return first.detections  # type: ignore[attr-defined, no-any-return]


def test_a_user_detector_with_several_outputs_decodes_them_all_and_honours_every_option(
    tmp_path: Path,
) -> None:
    module = ColourCells().eval()
    for name, axes in (("cells.onnx", {"x": {0: "n"}}), ("cells-batch1.onnx", None)):
        torch.onnx.export(
            module,
            (torch.zeros(1, 3, 32, 32),),
            str(tmp_path / name),
            dynamo=False,
            input_names=["x"],
            output_names=["boxes", "scores"],
            dynamic_axes=axes,
        )
    engines = {
        "torch": ModelEngine(
            _cells_config({"weights": "random"}, "torch"), model_dirs=[], cache_dir=tmp_path
        ),
        **{
            name: ModelEngine(
                _cells_config({"format": "onnx", "weights": _file(tmp_path / name)}, "onnxruntime"),
                model_dirs=[tmp_path],
                cache_dir=tmp_path,
            )
            for name in ("cells.onnx", "cells-batch1.onnx")  # the second runs one image at a time
        },
    }
    for backend, engine in engines.items():
        found = _detect(engine)
        # 32 proposals; per class, each grown twin (IoU 0.64, up to 0.79 where clipped to the
        # image) falls to non-maximum suppression at the config's 0.5.
        assert len(found) == 16, backend
        assert {d.label for d in found} == {"red", "blue"}
        assert all(d.score == 1.0 for d in found)
        red = [d for d in found if d.label == "red"]
        assert {d.box[0] for d in red} == {0.0, 16.0}  # in the original image's pixels
        assert {d.box[2] for d in red} == {16.0, 32.0}
        assert len(_detect(engine, iou_threshold=0.8)) == 32, backend  # the twins stay
        assert len(_detect(engine, iou_threshold=0.8, score_threshold=0.95)) == 16, backend
        kept = _detect(engine, iou_threshold=0.8, max_detections=5)
        assert [d.score for d in kept] == [1.0] * 5, backend  # the best five
    in_effect = RequestOptions(score_threshold=0.25, iou_threshold=0.8, max_detections=5)
    assert ColourCellDetector.seen[-1] == in_effect  # the user's code saw the request's options
