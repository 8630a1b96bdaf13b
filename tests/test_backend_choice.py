"""OpenVINO and the accuracy gate, in-process: the gate's rules on known answers, the runner
against onnxruntime, and ``runtime.backend: auto`` choosing among the real models' backends."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.helpers import IMAGES, image_bytes
from visionserve import backend_choice
from visionserve.config import ModelConfig, RuntimeConfig, ServiceConfig
from visionserve.engine import ModelEngine
from visionserve.registry.export import export_onnx
from visionserve.runtime.onnx_runner import OnnxRunner
from visionserve.runtime.openvino_runner import OpenVinoRunner, cpu_capabilities
from visionserve.settings import Settings
from visionserve.tasks.agreement import judge

LIMIT = 40_000_000


def _probabilities(*top: float, classes: int = 10) -> np.ndarray:
    rest = (1.0 - sum(top)) / (classes - len(top))
    return np.array([*top, *([rest] * (classes - len(top)))])


def test_a_near_tie_may_swap_but_a_clear_top1_may_not() -> None:
    reference = [_probabilities(0.41, 0.39)] + [_probabilities(0.9, 0.05)] * 39
    near_tie_swapped = [_probabilities(0.39, 0.41)] + [_probabilities(0.9, 0.05)] * 39
    verdict = judge("classification", reference, near_tie_swapped)
    assert verdict.passed
    assert verdict.score == pytest.approx(39 / 40)
    clear_swapped = [_probabilities(0.9, 0.05)] * 39 + [_probabilities(0.05, 0.9)]
    verdict = judge("classification", reference, clear_swapped)
    assert not verdict.passed
    assert "1 of 39 clear top-1s changed" in verdict.detail


def test_top1_must_stay_in_the_top5_and_agree_on_97_percent() -> None:
    reference = [_probabilities(0.3, 0.29, 0.2, 0.1, 0.05, 0.04)] * 10
    sixth = np.array([0.2, 0.2, 0.1, 0.1, 0.1, 0.0, 0.3, 0.0, 0.0, 0.0])
    verdict = judge("classification", reference, [sixth, *reference[1:]])
    assert not verdict.passed
    assert "outside fp32's top 5" in verdict.detail
    second = _probabilities(0.29, 0.3, 0.2, 0.1, 0.05, 0.04)  # near ties only, but 2 in 10 swapped
    verdict = judge("classification", reference, [second, second, *reference[2:]])
    assert not verdict.passed
    assert "top-1 agreement 80.0% < 97%" in verdict.detail


def test_boxes_are_kept_at_iou_09_with_their_label() -> None:
    box = np.array([10.0, 10.0, 110.0, 110.0])
    reference = [[(1, box)] for _ in range(50)]
    moved = [(1, box + 2.0)]  # IoU 0.92: the same box
    assert judge("detection", reference, [moved] * 50).passed
    relabelled_once = [[(2, box)]] + [[(1, box)]] * 49  # 49 of 50 kept: 98%, just enough
    assert judge("detection", reference, relabelled_once).score == pytest.approx(0.98)
    assert judge("detection", reference, relabelled_once).passed
    shifted = [[(1, box + 8.0)]] * 2 + [[(1, box)]] * 48  # IoU 0.73, twice in 50: 96% kept
    verdict = judge("detection", reference, shifted)
    assert not verdict.passed
    assert verdict.score == pytest.approx(0.96)


def test_segmentation_compares_each_class_mask() -> None:
    reference = np.zeros((100, 100), dtype=np.int64)
    reference[20:80, 20:80] = 1
    grown = reference.copy()
    grown[19, 20:80] = 1  # one row more: IoU 0.98 for the object
    assert judge("semantic_segmentation", [reference], [grown]).passed
    half = reference.copy()
    half[20:50, 20:80] = 0
    verdict = judge("semantic_segmentation", [reference], [half])
    assert not verdict.passed
    assert verdict.score < 0.95


def test_a_large_background_does_not_hide_a_shrunk_object() -> None:
    reference = np.zeros((100, 100), dtype=np.int64)
    reference[:, :20] = 1  # the object: a fifth of the image
    shrunk = reference.copy()
    shrunk[:8, :20] = 0  # 8% of it lost: IoU 0.92, while the background's is 0.98
    verdict = judge("semantic_segmentation", [reference], [shrunk])
    assert not verdict.passed
    assert verdict.score == pytest.approx(0.92)
    assert "(class 1)" in verdict.detail


def test_int8_is_judged_on_photos_it_was_not_calibrated_on() -> None:
    views = backend_choice.VIEWS_PER_PHOTO
    calibration, judged = backend_choice.calibration_split(4 * views)
    assert {i // views for i in calibration} == {1, 3}
    assert {i // views for i in judged} == {0, 2}
    assert len(calibration) == 2 * views


def _two_output_net() -> torch.nn.Module:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            features = torch.relu(self.conv(x))
            return features.mean((2, 3)), features.amax((2, 3))

    torch.manual_seed(0)
    return Net().eval()


@pytest.mark.parametrize("batch_axis", ["dynamic", "fixed_to_1"])
def test_openvino_fp32_answers_as_onnxruntime_does(tmp_path: Path, batch_axis: str) -> None:
    path = tmp_path / "net.onnx"
    dynamic = {"x": {0: "n"}, "mean": {0: "n"}, "max": {0: "n"}} if batch_axis == "dynamic" else None
    torch.onnx.export(
        _two_output_net(), (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False,
        input_names=["x"], output_names=["mean", "max"], dynamic_axes=dynamic, opset_version=17,
    )  # fmt: skip
    batch = np.random.default_rng(0).standard_normal((3, 3, 8, 8)).astype(np.float32)
    expected = OnnxRunner(path, threads=1).run(batch)
    got = OpenVinoRunner(path, threads=1, output_names=["mean", "max"]).run(batch)
    assert isinstance(got, dict)
    assert list(got) == ["mean", "max"]
    for name in ("mean", "max"):
        np.testing.assert_allclose(got[name], expected[name], atol=1e-5)  # type: ignore[index]


def test_bf16_is_refused_where_the_cpu_lacks_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = export_onnx(_single_output_net(), 16, "0" * 64, "tiny", tmp_path)
    monkeypatch.setattr("visionserve.runtime.openvino_runner.cpu_capabilities", lambda: ["FP32"])
    with pytest.raises(RuntimeError, match="AMX or AVX-512 BF16"):
        OpenVinoRunner(path, precision="bf16")


def _single_output_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())


@pytest.mark.parametrize(
    ("settings_", "error"),
    [
        ({"backend": "onnxruntime", "precision": "int8"}, "int8 applies to backend openvino only"),
        ({"backend": "openvino", "precision": "int8"}, "int8 needs gate_images"),
        ({"backend": "openvino", "precision": "bf16"}, "bf16 needs gate_images"),
        ({"backend": "openvino", "device": "cuda"}, "openvino runs on device cpu only"),
        ({"backend": "openvino", "precision": "fp16"}, "openvino runs precision fp32, bf16 or int8"),
        ({"backend": "auto", "precision": "bf16"}, "auto chooses the precision"),
        ({"backend": "auto", "auto_precisions": []}, "at least 1 item"),
    ],
)
def test_runtime_settings_that_cannot_work_are_refused(settings_: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        RuntimeConfig(**settings_)


def _with_runtime(model: ModelConfig, **changes: Any) -> ModelConfig:
    runtime = RuntimeConfig.model_validate(model.runtime.model_dump() | changes)
    return ModelConfig.model_validate(model.model_dump() | {"runtime": runtime.model_dump()})


def _gate_folder(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "gate"
    folder.mkdir()
    for name in names:
        shutil.copy(IMAGES / name, folder / name)
    return folder


def test_a_gate_folder_that_is_missing_or_empty_is_a_load_error(
    local_config: ServiceConfig, settings: Settings, tmp_path: Path
) -> None:
    model = _with_runtime(local_config.models[0], backend="auto", gate_images="no-such-folder")
    with pytest.raises(ValueError, match=r"runtime\.gate_images: no folder 'no-such-folder'"):
        ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    model = _with_runtime(model, gate_images=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match=r"holds no \.jpg"):
        ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=tmp_path)


def test_auto_serves_the_fastest_backend_that_passes_and_remembers(
    local_config: ServiceConfig, settings: Settings, tmp_path: Path
) -> None:
    folder = _gate_folder(tmp_path, "chelsea.png", "coffee.png", "grace_hopper.jpg")
    model = _with_runtime(local_config.models[0], backend="auto", gate_images=str(folder))
    first = ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=tmp_path)
    report = first.runtime
    assert report is not None
    assert report.chosen_by == "measurement"
    assert not report.cached
    assert report.gate_inputs == 3 * 22
    names = [(c.backend, c.precision) for c in report.candidates]
    assert names == [("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")]
    if "BF16" not in cpu_capabilities():
        assert report.candidates[2].detail.startswith("not tried: this CPU has neither")
    passing = [c for c in report.candidates if c.passed]
    fastest = max(passing, key=lambda c: c.images_per_second or 0.0)
    reference = report.candidates[0]
    assert reference.images_per_second
    if (fastest.images_per_second or 0) >= backend_choice.MIN_GAIN * reference.images_per_second:
        assert (report.backend, report.precision) == (fastest.backend, fastest.precision)
    else:  # no clear winner: onnxruntime stays
        assert (report.backend, report.precision) == ("onnxruntime", "fp32")
    assert first.runner.backend == report.backend
    assert all(c.agreement == 1.0 for c in report.candidates if c.precision == "fp32")

    again = ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=tmp_path)
    assert again.runtime is not None
    assert again.runtime.cached
    assert again.runtime.model_copy(update={"cached": False}) == report
    for remembered in (tmp_path / "runtime-choice").glob("*.json"):
        remembered.write_text('{"backend": "onnxruntime"')  # damaged: measured again, not a load error
    measured = ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=tmp_path)
    assert measured.runtime is not None
    assert not measured.runtime.cached
    labels = _top(again, "chelsea.png")
    assert labels[0] in {"tabby", "tiger cat", "Egyptian cat"}


def _top(engine: ModelEngine, name: str) -> list[str]:
    item = engine.prepare(image_bytes(name), max_pixels=LIMIT)
    return [c.label for c in engine.infer([item], [engine.parse_params({"top_k": 5})])[0].classes]  # type: ignore[attr-defined]


class _Reversed:
    """A backend that answers fast and wrong: the classes in reverse order."""

    backend = "openvino"
    device = "cpu"

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def run(self, batch: Any) -> Any:
        return np.asarray(self.inner.run(batch))[:, ::-1]


def test_a_backend_that_fails_the_gate_never_serves_however_fast(
    local_config: ServiceConfig, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_build = backend_choice._build

    def build(name: str, *args: Any) -> Any:
        runner = real_build(name, *args)
        return _Reversed(runner) if name == "openvino/fp32" else runner

    monkeypatch.setattr(backend_choice, "_build", build)
    folder = _gate_folder(tmp_path, "chelsea.png")
    model = _with_runtime(
        local_config.models[0], backend="auto", gate_images=str(folder), auto_precisions=["fp32"]
    )
    engine = ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=tmp_path)
    assert engine.runtime is not None
    wrong = engine.runtime.candidates[1]
    assert (wrong.backend, wrong.precision, wrong.passed, wrong.images_per_second) == (
        "openvino", "fp32", False, None,
    )  # fmt: skip
    assert "clear top-1s changed" in wrong.detail
    assert (engine.runtime.backend, engine.runtime.precision) == ("onnxruntime", "fp32")

    explicit = _with_runtime(model, backend="openvino", precision="fp32", auto_precisions=["fp32"])
    with pytest.raises(RuntimeError, match="no backend passed the accuracy gate"):
        ModelEngine(explicit, model_dirs=settings.model_dirs, cache_dir=tmp_path / "other")


@pytest.mark.parametrize("index", [1, 2], ids=["detector", "segmenter"])
def test_auto_gates_detectors_and_segmenters_by_their_own_rules(
    local_config: ServiceConfig, settings: Settings, tmp_path: Path, index: int
) -> None:
    folder = _gate_folder(tmp_path, "dog_bike_car.jpg", "astronaut.png")
    model = _with_runtime(local_config.models[index], backend="auto", gate_images=str(folder))
    engine = ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=tmp_path)
    assert engine.runtime is not None
    assert engine.runtime.gate_inputs == 44
    words = "boxes scoring >= 0.5 kept" if index == 1 else "mean mask IoU"
    assert all(words in c.detail for c in engine.runtime.candidates if c.agreement is not None)
    served = next(
        c
        for c in engine.runtime.candidates
        if (c.backend, c.precision) == (engine.runtime.backend, engine.runtime.precision)
    )
    assert served.passed
