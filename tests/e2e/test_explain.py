"""/v1/explain through real HTTP: the explanation deployment beside the served models."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.helpers import DOG_BIKE_CAR, image_bytes, red_and_blue_png
from visionserve_client.types import ExplainResponse, FloatMap

pytestmark = pytest.mark.e2e


def _explain(url: str, name: str, **fields: Any) -> httpx.Response:
    files = [("images", (name, image_bytes(name)))]
    data = {k: [str(i) for i in v] if isinstance(v, list) else str(v) for k, v in fields.items()}
    return httpx.post(f"{url}/v1/explain", files=files, data=data, timeout=300)


def _raw(values: FloatMap) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(values.data), dtype="<f2").astype(np.float32)
    return data.reshape(values.shape) * values.scale


def test_gradcam_of_the_dog_sits_in_the_dog_box(service: str) -> None:
    response = _explain(
        service, "dog_bike_car.jpg", methods=["gradcam", "saliency", "occlusion"], overlay="true"
    )
    assert response.status_code == 200, response.text
    body = ExplainResponse.model_validate_json(response.content)
    assert body.model == "efficientnet-lite0"
    result = body.results[0]
    assert result.target.kind == "class"
    assert result.target.label in {"German shepherd", "malamute", "Siberian husky", "Eskimo dog"}
    gradcam = next(e for e in result.explanations if e.method == "gradcam")
    assert gradcam.layer == "_avg_pooling.input"
    heat = np.maximum(_raw(gradcam.raw), 0)
    assert heat.shape == (576, 768)
    x1, y1, x2, y2 = DOG_BIKE_CAR["dog"]
    inside = heat[y1:y2, x1:x2].sum() / heat.sum()
    box_share = (x2 - x1) * (y2 - y1) / (768 * 576)
    assert inside >= 2 * box_share
    assert gradcam.overlay_png is not None
    overlay = Image.open(io.BytesIO(base64.b64decode(gradcam.overlay_png)))
    assert overlay.size == (768, 576)
    assert {e.method for e in result.explanations} == {"gradcam", "saliency", "occlusion"}


def test_the_served_model_is_unchanged_by_explanations(service: str) -> None:
    files = [("images", ("d.jpg", image_bytes("dog_bike_car.jpg")))]
    before = httpx.post(f"{service}/v1/classify", files=files, timeout=60).json()["results"]
    assert _explain(service, "dog_bike_car.jpg", methods=["guided_backprop", "gradcam"]).status_code == 200
    after = httpx.post(f"{service}/v1/classify", files=files, timeout=60).json()["results"]
    assert before == after


def test_models_list_their_methods(service: str) -> None:
    info = httpx.get(f"{service}/v1/models/efficientnet-lite0", timeout=30).json()
    assert "gradcam" in info["explain_methods"]
    assert info["explain_layer"] == "_avg_pooling.input"
    selfie = httpx.get(f"{service}/v1/models/selfie-segmentation", timeout=30).json()
    assert selfie["explain_methods"] == ["occlusion", "rise"]
    detector = httpx.get(f"{service}/v1/models/yolox-nano", timeout=30).json()
    assert detector["explain_methods"] == ["occlusion", "rise"]
    pipeline = httpx.get(f"{service}/v1/models/person-instances", timeout=30).json()
    assert pipeline["explain_methods"] == []


def test_an_onnx_detector_box_is_explained_without_gradients(service: str) -> None:
    response = _explain(
        service, "dog_bike_car.jpg", model="yolox-nano", methods=["occlusion", "rise"], target_box_index=0
    )
    assert response.status_code == 200, response.text
    result = ExplainResponse.model_validate_json(response.content).results[0]
    assert (result.target.kind, result.target.label) == ("box", "dog")
    assert result.target.box is not None
    x1, y1, x2, y2 = (int(v) for v in result.target.box)
    occlusion = np.maximum(_raw(result.explanations[0].raw), 0)
    inside = occlusion[y1:y2, x1:x2].sum() / occlusion.sum()
    assert inside >= 2 * (x2 - x1) * (y2 - y1) / occlusion.size
    named = _explain(
        service,
        "dog_bike_car.jpg",
        model="yolox-nano",
        methods=["occlusion"],
        target_box=[467, 78, 692, 172],
        target_label="car",
    )
    assert named.status_code == 200, named.text
    assert ExplainResponse.model_validate_json(named.content).results[0].target.label == "car"


def test_gradient_free_occlusion_on_an_onnx_segmenter(service: str) -> None:
    response = _explain(
        service, "astronaut.png", model="selfie-segmentation", methods=["occlusion"], patch=64, stride=32
    )
    assert response.status_code == 200, response.text
    result = ExplainResponse.model_validate_json(response.content).results[0]
    assert result.target.label == "person"
    assert _raw(result.explanations[0].raw).shape == (512, 512)


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"methods": ["telepathy"]}, 422, "methods"),
        ({"methods": ["gradcam"], "model": "selfie-segmentation"}, 422, "not available"),
        ({"methods": ["saliency"], "target_class": 1000}, 422, "out of range"),
        ({"methods": ["saliency"], "target_label": "unicorn"}, 422, "unknown target_label"),
        ({"methods": ["gradcam"], "layer": "no_such_layer"}, 422, "no layer 'no_such_layer'"),
        ({"methods": ["occlusion"], "patch": 500}, 422, "larger than the model input"),
        ({"methods": ["occlusion"], "stride": 0}, 422, "stride"),
        ({"methods": ["saliency"], "model": "yolox-nano"}, 422, "not available"),
        ({"methods": ["occlusion"], "model": "person-instances"}, 422, "offers no explanation methods"),
        ({"methods": ["occlusion"], "model": "yolox-nano", "target_box_index": 50}, 422, "out of range"),
        (
            {"methods": ["occlusion"], "model": "yolox-nano", "target_box": [1, 2, 30, 40]},
            422,
            "target_label",
        ),
        ({"methods": ["saliency"], "model": "nope"}, 404, "unknown model"),
    ],
)
def test_explain_bad_input(service: str, fields: dict[str, Any], status: int, words: str) -> None:
    response = _explain(service, "chelsea.png", **fields)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]


def test_segmentation_clip_and_user_models_are_explained(zoo: str) -> None:
    seg = _explain(zoo, "dog_bike_car.jpg", model="deeplabv3", methods=["gradcam", "saliency"])
    assert seg.status_code == 200, seg.text
    assert ExplainResponse.model_validate_json(seg.content).results[0].target.kind == "segmentation_class"
    clip = _explain(
        zoo, "chelsea.png", model="clip", methods=["gradcam", "integrated_gradients"], target_text="a cat"
    )
    assert clip.status_code == 200, clip.text
    target = ExplainResponse.model_validate_json(clip.content).results[0].target
    assert (target.kind, target.text) == ("text", "a cat")
    assert -1.0 <= target.score <= 1.0
    missing = _explain(zoo, "chelsea.png", model="clip", methods=["saliency"])
    assert missing.status_code == 422
    boxes = _explain(zoo, "dog_bike_car.jpg", model="faster-rcnn", methods=["gradcam", "saliency"])
    assert boxes.status_code == 200, boxes.text
    assert ExplainResponse.model_validate_json(boxes.content).results[0].target.kind == "box"
    user = _explain(zoo, "chelsea.png", model="tinynet", methods=["gradcam", "guided_backprop"])
    assert user.status_code == 200, user.text
    assert ExplainResponse.model_validate_json(user.content).results[0].target.label in {
        "reddish",
        "greenish",
        "bluish",
    }


def test_a_user_detector_with_two_outputs_detects_and_is_explained(zoo: str) -> None:
    """tests/fixtures/user_models.py's ColourCellDetector, served from config alone: two heads
    decoded by its own code, the request's iou_threshold applied, a box explained by
    occlusion and D-RISE through its results and by saliency through its box_scores."""
    files = [("images", ("cells.png", red_and_blue_png()))]
    found = {}
    for iou in (0.5, 0.8):
        response = httpx.post(
            f"{zoo}/v1/detect", files=files, data={"model": "cells", "iou_threshold": str(iou)}, timeout=60
        )
        assert response.status_code == 200, response.text
        found[iou] = response.json()["results"][0]["detections"]
    # 16 cells each proposed twice; the grown twin (IoU 0.64) survives NMS at 0.8 only.
    assert (len(found[0.5]), len(found[0.8])) == (16, 32)
    methods = httpx.get(f"{zoo}/v1/models/cells", timeout=30).json()["explain_methods"]
    assert {"occlusion", "rise", "saliency", "gradcam"} <= set(methods)
    data = {
        "model": "cells",
        "methods": ["occlusion", "rise", "saliency"],
        "target_box_index": "3",
        "patch": "8",
        "stride": "8",
        "masks": "256",
        "grid": "4",
    }
    response = httpx.post(f"{zoo}/v1/explain", files=files, data=data, timeout=300)
    assert response.status_code == 200, response.text
    result = ExplainResponse.model_validate_json(response.content).results[0]
    assert result.target.box == tuple(found[0.5][3]["box"])
    assert result.target.score == pytest.approx(2.0)  # IoU 1 with itself + score 1
    x1, y1, x2, y2 = (int(v) for v in result.target.box)
    for explanation in result.explanations:
        values = _raw(explanation.raw)
        inside = np.zeros(values.shape, dtype=bool)
        inside[y1:y2, x1:x2] = True
        # Only the box's cell decides whether the box is found again.
        assert values[inside].mean() > values[~inside].mean() + 0.1 * abs(values).max(), explanation.method


def test_a_zero_shot_label_is_explained_through_the_same_prompts(zoo: str) -> None:
    files = [("images", ("c.png", image_bytes("chelsea.png")))]
    labels = {"labels": ["a tabby cat", "a rocket"]}
    scores = httpx.post(f"{zoo}/v1/zero-shot", files=files, data=labels, timeout=120).json()
    similarity = {s["label"]: s["similarity"] for s in scores["results"][0]["scores"]}
    by_label = _explain(zoo, "chelsea.png", model="clip", methods=["gradcam"], target_label="a tabby cat")
    assert by_label.status_code == 200, by_label.text
    target = ExplainResponse.model_validate_json(by_label.content).results[0].target
    assert (target.kind, target.label, target.text) == ("text", "a tabby cat", None)
    assert abs(target.score - similarity["a tabby cat"]) < 1e-4
    both = _explain(
        zoo, "chelsea.png", model="clip", methods=["gradcam"], target_label="a cat", target_text="a cat"
    )
    assert both.status_code == 422
    assert "one of them" in both.json()["error"]["message"]


def test_concurrent_explanations_of_one_model_do_not_mix(service: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    requests = [("dog_bike_car.jpg", "gradcam"), ("chelsea.png", "gradcam"), ("coffee.png", "saliency")] * 2
    alone = {r: _explain(service, r[0], methods=[r[1]]).json() for r in set(requests)}
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda r: _explain(service, r[0], methods=[r[1]]).json(), requests))
    for request, answer in zip(requests, together, strict=True):
        expected = alone[request]["results"][0]
        got = answer["results"][0]
        assert got["target"] == expected["target"]
        assert got["explanations"][0]["raw"] == expected["explanations"][0]["raw"]


def test_an_explanation_over_the_cost_limit_is_refused_before_it_is_queued(service: str) -> None:
    started = time.perf_counter()
    costly = _explain(
        service, "chelsea.png", methods=["integrated_gradients", "occlusion"], steps="512", stride="1"
    )
    assert costly.status_code == 422, costly.text
    assert costly.json()["error"]["code"] == "explanation_too_costly"
    assert "max_explanation_passes" in costly.json()["error"]["message"]
    assert time.perf_counter() - started < 5  # answered at the ingress, not after the work
    fine = _explain(service, "chelsea.png", methods=["integrated_gradients"], steps="64")
    assert fine.status_code == 200, fine.text
