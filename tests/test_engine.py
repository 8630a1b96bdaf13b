"""The real models in-process (no Ray): what every replica runs."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from visionserve.config import ServiceConfig
from visionserve.engine import ModelEngine
from visionserve.settings import Settings

from .helpers import CAT_LABELS, DOG_BIKE_CAR, image_bytes, iou

LIMIT = 40_000_000


@pytest.fixture(scope="module")
def engines(local_config: ServiceConfig, settings: Settings) -> dict[str, ModelEngine]:
    return {
        m.task: ModelEngine(m, model_dirs=settings.model_dirs, cache_dir=settings.cache_dir)
        for m in local_config.models
    }


def _classify(engine: ModelEngine, name: str, top_k: int = 5) -> list[str]:
    item = engine.prepare(image_bytes(name), max_pixels=LIMIT)
    result = engine.infer([item], [engine.parse_params({"top_k": top_k})])[0]
    return [c.label for c in result.classes]  # type: ignore[attr-defined]


def test_classifier_knows_a_cat_and_an_espresso(engines: dict[str, ModelEngine]) -> None:
    classifier = engines["classification"]
    assert len(classifier.labels) == 1000
    assert _classify(classifier, "chelsea.png")[0] in CAT_LABELS
    assert {"espresso", "cup"} & set(_classify(classifier, "coffee.png")[:2])


def test_detector_finds_dog_bicycle_car(engines: dict[str, ModelEngine]) -> None:
    detector = engines["detection"]
    item = detector.prepare(image_bytes("dog_bike_car.jpg"), max_pixels=LIMIT)
    result = detector.infer([item], [detector.parse_params({})])[0]
    for label, expected in DOG_BIKE_CAR.items():
        best = max(
            (d for d in result.detections if d.label == label),  # type: ignore[attr-defined]
            key=lambda d: iou(d.box, expected),
        )
        assert iou(best.box, expected) >= 0.85, (label, best)
        assert best.score >= 0.6


def test_the_torchvision_jpeg_decoder_gives_the_same_detections(
    local_config: ServiceConfig, settings: Settings, engines: dict[str, ModelEngine]
) -> None:
    model = next(m for m in local_config.models if m.task == "detection")
    runtime = model.runtime.model_copy(update={"jpeg_decoder": "torchvision"})
    engine = ModelEngine(
        model.model_copy(update={"runtime": runtime}),
        model_dirs=settings.model_dirs,
        cache_dir=settings.cache_dir,
    )
    data = image_bytes("dog_bike_car.jpg")
    ours = engine.infer([engine.prepare(data, max_pixels=LIMIT)], [engine.parse_params({})])[0]
    pillow = engines["detection"]
    reference = pillow.infer([pillow.prepare(data, max_pixels=LIMIT)], [pillow.parse_params({})])[0]
    assert [d.label for d in ours.detections] == [d.label for d in reference.detections]  # type: ignore[attr-defined]
    for a, b in zip(ours.detections, reference.detections, strict=True):  # type: ignore[attr-defined]
        assert iou(a.box, b.box) > 0.98


def test_batch_equals_one_by_one(engines: dict[str, ModelEngine]) -> None:
    for engine in engines.values():
        names = ["chelsea.png", "coffee.png", "dog_bike_car.jpg"]
        items = [engine.prepare(image_bytes(n), max_pixels=LIMIT) for n in names]
        params = [engine.parse_params({})] * len(items)
        batched = engine.infer(items, params)
        single = [engine.infer([item], [p])[0] for item, p in zip(items, params, strict=True)]
        for a, b in zip(batched, single, strict=True):
            assert a.model_dump().keys() == b.model_dump().keys()
            assert _close(a.model_dump(), b.model_dump())


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-3 * max(1.0, abs(a))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_labels_that_drift_from_the_weights_fail_at_load(
    local_config: ServiceConfig, settings: Settings, tmp_path: Path
) -> None:
    short = tmp_path / "imagenet_999.txt"
    lines = (settings.model_dirs[0] / "imagenet_synsets.txt").read_text().splitlines()[:999]
    short.write_text("\n".join(lines) + "\n")
    digest = hashlib.sha256(short.read_bytes()).hexdigest()
    model = local_config.models[0]
    labels = model.source.labels.model_copy(update={"file": short.name, "sha256": digest, "url": None})
    broken = model.model_copy(update={"source": model.source.model_copy(update={"labels": labels})})
    with pytest.raises(ValueError, match="does not match 999 labels"):
        ModelEngine(broken, model_dirs=[tmp_path, *settings.model_dirs], cache_dir=tmp_path)


def test_person_covers_most_of_the_astronaut(engines: dict[str, ModelEngine]) -> None:
    detector = engines["detection"]
    data = image_bytes("astronaut.png")
    item = detector.prepare(data, max_pixels=LIMIT)
    result = detector.infer([item], [detector.parse_params({})])[0]
    people = [d for d in result.detections if d.label == "person"]  # type: ignore[attr-defined]
    assert len(people) == 1
    x1, y1, x2, y2 = people[0].box
    width, height = Image.open(io.BytesIO(data)).size
    assert (x2 - x1) * (y2 - y1) > 0.5 * width * height


def test_torch_models_export_to_onnx_once_and_agree(
    local_config: ServiceConfig, settings: Settings, tmp_path: Path
) -> None:
    model = local_config.models[0]
    assert model.runtime.backend == "onnxruntime"
    first = ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=tmp_path)
    exports = list((tmp_path / "onnx").glob("*.onnx"))
    assert [p.name for p in exports] == [f"{model.name}-{first.version[:16]}-224.onnx"]
    stamp = exports[0].stat().st_mtime_ns
    ModelEngine(model, model_dirs=settings.model_dirs, cache_dir=tmp_path)
    assert exports[0].stat().st_mtime_ns == stamp  # reused, not exported again
    torch_model = model.model_copy(update={"runtime": model.runtime.model_copy(update={"backend": "torch"})})
    eager = ModelEngine(torch_model, model_dirs=settings.model_dirs, cache_dir=tmp_path)
    item = first.prepare(image_bytes("chelsea.png"), max_pixels=LIMIT)
    a = first.infer([item], [first.parse_params({"top_k": 5})])[0]
    b = eager.infer([item], [eager.parse_params({"top_k": 5})])[0]
    assert [c.index for c in a.classes] == [c.index for c in b.classes]  # type: ignore[attr-defined]
    scores = [(x.score, y.score) for x, y in zip(a.classes, b.classes, strict=True)]  # type: ignore[attr-defined]
    assert all(abs(x - y) < 1e-4 for x, y in scores)
