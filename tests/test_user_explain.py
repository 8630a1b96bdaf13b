"""A user's model explained in-process: occlusion and RISE / D-RISE through its typed results
(torch and ONNX alike), gradient methods for its torch module, and what is refused."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from tests.fixtures.user_models import ColourCellDetector, ColourCells, TinyConvNet
from tests.helpers import red_and_blue_png
from tests.test_user_models import LIMIT, _cells_config, _config, _file
from visionserve.config import ModelConfig
from visionserve.custom import VisionModel
from visionserve.engine import ModelEngine
from visionserve.errors import ExplanationTooCostly, ModelError, Unprocessable
from visionserve.explain.cost import forward_passes
from visionserve.explain.service import ExplainableModel
from visionserve.explain.support import supported_methods
from visionserve_client.types import ExplainResult
from visionserve_client.visualize import floatmap_to_numpy

PERTURBATION = {"patch": 8, "stride": 8, "masks": 256, "grid": 4, "seed": 1}


class NoBoxScores(ColourCellDetector):
    """A detector whose class cannot score a box on its raw output."""

    box_scores = VisionModel.box_scores  # type: ignore[assignment]


class Picky(ColourCellDetector):
    """A decoder that fails on one kind of image (a very wide one), as users' code does."""

    def postprocess(self, output: Any, meta: Any, size: Any, options: Any) -> Any:
        if size.width > 3 * size.height:
            raise ValueError("cannot decode a panorama")
        return super().postprocess(output, meta, size, options)


def _export(module: torch.nn.Module, path: Path, dynamic: bool, outputs: list[str]) -> Path:
    torch.onnx.export(
        module,
        (torch.zeros(1, 3, 32, 32),),
        str(path),
        dynamo=False,
        input_names=["x"],
        output_names=outputs,
        dynamic_axes={"x": {0: "n"}} if dynamic else None,
    )
    return path


def _cells(tmp_path: Path, runtime: str, **explain: Any) -> ModelEngine:
    if runtime == "torch":
        source: dict[str, Any] = {"weights": "random"}
    else:
        onnx = _export(
            ColourCells().eval(), tmp_path / f"{runtime}.onnx", runtime == "onnx", ["boxes", "scores"]
        )
        source = {"format": "onnx", "weights": _file(onnx)}
    cfg = _cells_config(source, "torch" if runtime == "torch" else "onnxruntime")
    if explain:
        cfg = ModelConfig.model_validate({**cfg.model_dump(), "explain": explain})
    return ModelEngine(cfg, model_dirs=[tmp_path], cache_dir=tmp_path)


def _inside_and_outside(result: ExplainResult, method: str) -> tuple[float, float]:
    """The map's mean inside the explained box and outside it (original pixels)."""
    (explanation,) = [e for e in result.explanations if e.method == method]
    values = floatmap_to_numpy(explanation.raw)
    assert result.target.box is not None
    x1, y1, x2, y2 = (int(v) for v in result.target.box)
    inside = np.zeros(values.shape, dtype=bool)
    inside[y1:y2, x1:x2] = True
    return float(values[inside].mean()), float(values[~inside].mean())


@pytest.mark.parametrize("runtime", ["torch", "onnx", "onnx-batch1"])
def test_a_user_detector_is_explained_through_its_results(tmp_path: Path, runtime: str) -> None:
    model = ExplainableModel(_cells(tmp_path, runtime))
    assert model.methods == ["occlusion", "rise"] == supported_methods(model.engine.cfg)
    params = {"methods": ["occlusion", "rise"], "target_box_index": 3, **PERTURBATION}
    result = model.explain(red_and_blue_png(), params, max_pixels=LIMIT)
    assert result.target.kind == "box"
    assert result.target.score == pytest.approx(2.0)  # IoU 1 with itself, score 1
    # Covering the box's cell is what removes the detection; nothing else matters to it.
    inside, outside = _inside_and_outside(result, "occlusion")
    assert inside > 0.5, (runtime, inside)
    assert abs(outside) < 0.1 * inside, (runtime, inside, outside)
    # RISE: every pixel weighs the masks that keep it, so the map is high where the box's
    # cell must be kept for the box to be found again.
    inside, outside = _inside_and_outside(result, "rise")
    assert inside > outside + 0.1, (runtime, inside, outside)
    with pytest.raises(Unprocessable, match="layer applies to gradient"):
        model.explain(red_and_blue_png(), {**params, "layer": "colours"}, max_pixels=LIMIT)


def test_a_user_torch_detector_with_box_scores_gets_the_gradient_methods(tmp_path: Path) -> None:
    model = ExplainableModel(_cells(tmp_path, "torch", gradients=True))
    assert {"saliency", "gradcam"} <= set(model.methods)
    assert "cam" not in model.methods
    assert model.layer == "colours"  # its last convolution
    params = {"methods": ["saliency", "gradcam", "occlusion"], "target_box_index": 3, **PERTURBATION}
    result = model.explain(red_and_blue_png(), params, max_pixels=LIMIT)
    inside, outside = _inside_and_outside(result, "saliency")
    # The box's score is its cell's mean colour: only the cell's pixels have a gradient.
    assert inside > 0
    assert abs(outside) < 0.01 * inside  # (what is there leaks from the box's edge when resized)
    assert [e.method for e in result.explanations] == ["saliency", "gradcam", "occlusion"]


def test_gradients_a_user_model_cannot_give_are_refused_at_load(tmp_path: Path) -> None:
    cfg = _cells_config({"weights": "random"}, "torch")
    cfg = ModelConfig.model_validate(
        {
            **cfg.model_dump(),
            "source": {**cfg.source.model_dump(), "class_path": "tests.test_user_explain:NoBoxScores"},
            "explain": {"gradients": True},
        }
    )
    with pytest.raises(TypeError, match=r"needs NoBoxScores\.box_scores"):
        ExplainableModel(ModelEngine(cfg, model_dirs=[], cache_dir=tmp_path))
    with pytest.raises(ValueError, match=r"explain\.gradients applies to a user's torch model"):
        ModelConfig.model_validate(
            {
                **_cells_config(
                    {"format": "onnx", "weights": {"file": "x.onnx", "sha256": "0" * 64}}, "onnxruntime"
                ).model_dump(),
                "explain": {"gradients": True},
            }
        )


def test_a_user_classifier_offers_gradients_in_torch_and_occlusion_in_onnx(tmp_path: Path) -> None:
    torch.manual_seed(7)
    _export(TinyConvNet(3).eval(), tmp_path / "tiny.onnx", True, ["logits"])
    torch_model = ExplainableModel(
        ModelEngine(_config({"weights": "random", "seed": 2}), model_dirs=[], cache_dir=tmp_path)
    )
    onnx_model = ExplainableModel(
        ModelEngine(
            _config({"format": "onnx", "weights": _file(tmp_path / "tiny.onnx")}, backend="onnxruntime"),
            model_dirs=[tmp_path],
            cache_dir=tmp_path,
        )
    )
    assert onnx_model.methods == ["occlusion", "rise"]
    assert "integrated_gradients" in torch_model.methods
    assert "cam" not in torch_model.methods
    image = red_and_blue_png()
    for model, methods in ((torch_model, ["saliency", "gradcam", "occlusion"]), (onnx_model, ["occlusion"])):
        params = {"methods": methods, "target_label": "bluish", "patch": 8, "stride": 8, "fidelity": True}
        result = model.explain(image, params, max_pixels=LIMIT)
        assert (result.target.kind, result.target.label) == ("class", "bluish")
        assert 0.0 < result.target.score < 1.0  # its probability, read from the typed result
        assert all(e.fidelity is not None for e in result.explanations)


def test_a_failing_user_decoder_fails_its_own_image_only(tmp_path: Path) -> None:
    cfg = _cells_config({"weights": "random"}, "torch")
    cfg = ModelConfig.model_validate(
        {
            **cfg.model_dump(),
            "source": {**cfg.source.model_dump(), "class_path": "tests.test_user_explain:Picky"},
        }
    )
    engine = ModelEngine(cfg, model_dirs=[], cache_dir=tmp_path)
    wide = io.BytesIO()
    Image.fromarray(np.zeros((10, 64, 3), dtype=np.uint8)).save(wide, format="PNG")
    items = [engine.prepare(data, max_pixels=LIMIT) for data in (red_and_blue_png(), wide.getvalue())]
    params = engine.parse_params({})
    results = engine.infer_timed(items, [params, params])[0]
    assert not isinstance(results[0], Exception)
    assert len(results[0].detections) == 16  # type: ignore[attr-defined]
    assert isinstance(results[1], ModelError)
    assert results[1].message == "Picky.postprocess raised ValueError: cannot decode a panorama"
    assert (results[1].status, results[1].code) == (500, "model_error")
    with pytest.raises(ModelError):
        engine.infer(items, [params, params])


def test_a_user_model_is_priced_on_its_own_input_size(tmp_path: Path) -> None:
    model = ExplainableModel(_cells(tmp_path, "onnx"))
    params = {"methods": ["occlusion"], "patch": 8, "stride": 1}
    # The ingress cannot know the 32x32 input (one window); the explainer counts 25 x 25.
    assert forward_passes(["occlusion"], params, None) == 2
    with pytest.raises(ExplanationTooCostly, match=r"626 forward passes of cells on its 32x32 input"):
        model.explain(red_and_blue_png(), params, max_pixels=LIMIT, max_passes=625)
    assert model.explain(red_and_blue_png(), params, max_pixels=LIMIT, max_passes=626).explanations
