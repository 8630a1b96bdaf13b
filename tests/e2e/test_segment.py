"""Segmentation through real HTTP: the default selfie segmenter and every torchvision family."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.helpers import image_bytes
from visionserve.tasks.masks import decode_rle
from visionserve_client.types import RLE, DetectResponse, SegmentResponse

pytestmark = pytest.mark.e2e


def _post(url: str, names: list[str], **fields: Any) -> httpx.Response:
    files = [("images", (n, image_bytes(n))) for n in names]
    return httpx.post(url, files=files, data={k: str(v) for k, v in fields.items()}, timeout=120)


def _png(data: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))


@pytest.mark.parametrize(("name", "size"), [("astronaut.png", (512, 512)), ("grace_hopper.jpg", (600, 512))])
def test_selfie_segmenter_finds_the_person(service: str, name: str, size: tuple[int, int]) -> None:
    response = _post(f"{service}/v1/segment", [name], include_label_map="true")
    assert response.status_code == 200, response.text
    body = SegmentResponse.model_validate_json(response.content)
    assert body.model == "selfie-segmentation"
    result = body.results[0]
    assert result.kind == "semantic"
    by_label = {c.label: c for c in result.classes}
    assert 0.4 <= by_label["person"].pixel_share <= 0.7
    assert sum(c.pixel_share for c in result.classes) == pytest.approx(1.0)
    assert result.label_map_png is not None
    label_map = _png(result.label_map_png)
    assert label_map.shape == size
    for entry in result.classes:
        assert entry.mask is not None
        assert entry.mask.size == size
        assert np.array_equal(decode_rle(entry.mask), label_map == entry.index)


def test_segment_options(service: str) -> None:
    only = _post(f"{service}/v1/segment", ["astronaut.png"], classes="person", include_scores="true")
    result = SegmentResponse.model_validate_json(only.content).results[0]
    assert [c.label for c in result.classes] == ["person"]
    assert result.kind == "semantic"
    assert result.score_maps_png is not None
    scores = _png(result.score_maps_png["person"])
    assert scores.shape == (512, 512)
    assert scores.dtype == np.uint8
    assert scores.max() > 200
    bare = _post(f"{service}/v1/segment", ["astronaut.png"], include_masks="false")
    assert all(c["mask"] is None for c in bare.json()["results"][0]["classes"])


@pytest.mark.parametrize(
    ("fields", "status", "code", "words"),
    [
        ({"classes": "unicorn"}, 422, "invalid_parameter", "unknown class 'unicorn'"),
        ({"classes": ""}, 422, "invalid_parameter", "unknown class ''"),
        ({"model": "yolox-nano"}, 422, "task_mismatch", "/v1/detect"),
        ({"include_masks": "perhaps"}, 422, "invalid_parameter", "include_masks"),
    ],
)
def test_segment_bad_input(service: str, fields: dict[str, str], status: int, code: str, words: str) -> None:
    response = _post(f"{service}/v1/segment", ["astronaut.png"], **fields)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert words in response.json()["error"]["message"]


def _check_box(box: tuple[float, float, float, float], width: int, height: int) -> None:
    x1, y1, x2, y2 = box
    assert 0 <= x1 < x2 <= width
    assert 0 <= y1 < y2 <= height


@pytest.mark.parametrize("model", ["faster-rcnn", "ssdlite", "retinanet", "fcos"])
def test_torchvision_detectors_serve_typed_boxes_in_original_pixels(zoo: str, model: str) -> None:
    response = _post(f"{zoo}/v1/detect", ["dog_bike_car.jpg", "astronaut.png"], model=model)
    assert response.status_code == 200, response.text
    body = DetectResponse.model_validate_json(response.content)
    assert body.model == model
    assert len(body.model_version) == 64
    for result, (width, height) in zip(body.results, [(768, 576), (512, 512)], strict=True):
        assert (result.image.width, result.image.height) == (width, height)
        assert 0 < len(result.detections) <= 20
        for detection in result.detections:
            _check_box(detection.box, width, height)


def test_mask_rcnn_serves_instances_with_masks_in_original_pixels(zoo: str) -> None:
    response = _post(f"{zoo}/v1/segment", ["dog_bike_car.jpg"], model="mask-rcnn")
    assert response.status_code == 200, response.text
    result = SegmentResponse.model_validate_json(response.content).results[0]
    assert result.kind == "instance"
    assert 0 < len(result.instances) <= 5
    for instance in result.instances:
        _check_box(instance.box, 768, 576)
        assert isinstance(instance.mask, RLE)
        assert instance.mask.size == (576, 768)


@pytest.mark.parametrize("model", ["deeplabv3", "lraspp", "fcn"])
def test_torchvision_segmenters_serve_label_maps_at_original_size(zoo: str, model: str) -> None:
    response = _post(f"{zoo}/v1/segment", ["dog_bike_car.jpg"], model=model, include_label_map="true")
    assert response.status_code == 200, response.text
    result = SegmentResponse.model_validate_json(response.content).results[0]
    assert result.kind == "semantic"
    assert result.label_map_png is not None
    label_map = _png(result.label_map_png)
    assert label_map.shape == (576, 768)
    assert sum(c.pixel_share for c in result.classes) == pytest.approx(1.0)
    for entry in result.classes:
        assert entry.mask is not None
        assert np.array_equal(decode_rle(entry.mask), label_map == entry.index)


def test_zoo_metadata(zoo: str) -> None:
    assert httpx.get(f"{zoo}/readyz", timeout=30).status_code == 200
    models = {m["name"]: m for m in httpx.get(f"{zoo}/v1/models", timeout=30).json()["models"]}
    assert models["faster-rcnn"]["input_size"] is None
    assert models["faster-rcnn"]["labels_count"] == 91
    assert models["deeplabv3"]["labels_count"] == 21
    assert models["deeplabv3"]["input_size"] == [256, 256]
    assert models["mask-rcnn"]["task"] == "instance_segmentation"
    assert all(len(m["model_version"]) == 64 for m in models.values())


def test_a_user_model_is_served_from_config_alone(zoo: str) -> None:
    response = _post(f"{zoo}/v1/classify", ["chelsea.png", "coffee.png"], model="tinynet", top_k=2)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "tinynet"
    assert len(body["model_version"]) == 64
    for result in body["results"]:
        assert len(result["classes"]) == 2
        assert {c["label"] for c in result["classes"]} <= {"reddish", "greenish", "bluish"}
    info = httpx.get(f"{zoo}/v1/models/tinynet", timeout=30).json()
    assert (info["labels_count"], info["ready"], info["input_size"]) == (3, True, None)
    too_many = _post(f"{zoo}/v1/classify", ["chelsea.png"], model="tinynet", top_k=4)
    assert too_many.status_code == 422
    assert "between 1 and 3" in too_many.json()["error"]["message"]
