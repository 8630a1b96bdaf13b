"""Open Inference Protocol v2 through real HTTP, with Triton's own client (test-only dependency)."""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image

from tests.helpers import CAT_LABELS, DOG_BIKE_CAR, IMAGES, image_bytes, iou

pytestmark = pytest.mark.e2e


def _client(service: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=service.removeprefix("http://"))


def _bytes_input(*names: str) -> triton.InferInput:
    tensor = triton.InferInput("images", [len(names)], "BYTES")
    tensor.set_data_from_numpy(np.array([image_bytes(n) for n in names], dtype=np.object_))
    return tensor


def test_tritonclient_gets_the_same_top1_as_v1(service: str) -> None:
    client = _client(service)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("efficientnet-lite0")
    metadata = client.get_model_metadata("efficientnet-lite0")
    assert metadata["inputs"][0]["datatype"] == "BYTES"
    answer = client.infer("efficientnet-lite0", [_bytes_input("chelsea.png", "coffee.png")])
    labels = answer.as_numpy("labels")
    scores = answer.as_numpy("scores")
    assert labels.shape == scores.shape == (2, 5)
    files = [("images", ("c.png", image_bytes("chelsea.png")))]
    v1 = httpx.post(f"{service}/v1/classify", files=files, timeout=60).json()["results"][0]["classes"][0]
    assert labels[0, 0].decode() == v1["label"] in CAT_LABELS
    assert scores[0, 0] == pytest.approx(v1["score"], abs=1e-5)
    assert (
        answer.get_response()["model_version"]
        == httpx.get(f"{service}/v1/models/efficientnet-lite0").json()["model_version"]
    )


def test_tritonclient_detects_with_parameters_and_chosen_outputs(service: str) -> None:
    client = _client(service)
    outputs = [triton.InferRequestedOutput("boxes"), triton.InferRequestedOutput("labels", binary_data=False)]
    answer = client.infer(
        "yolox-nano", [_bytes_input("dog_bike_car.jpg")], outputs=outputs, parameters={"score_threshold": 0.5}
    )
    boxes, labels = answer.as_numpy("boxes"), [str(x) for x in answer.as_numpy("labels")]
    assert answer.as_numpy("scores") is None  # not asked for
    for label, expected in DOG_BIKE_CAR.items():
        assert (
            max(iou(tuple(b), expected) for b, name in zip(boxes, labels, strict=True) if name == label)
            > 0.85
        )


def test_uint8_pixels_and_base64_json_give_the_v1_answer(service: str) -> None:
    pixels = np.asarray(Image.open(IMAGES / "chelsea.png").convert("RGB"))
    tensor = triton.InferInput("pixels", list(pixels.shape), "UINT8")
    tensor.set_data_from_numpy(pixels)
    by_pixels = _client(service).infer("efficientnet-lite0", [tensor]).as_numpy("labels")[0, 0].decode()
    body = {
        "inputs": [
            {
                "name": "images",
                "shape": [1],
                "datatype": "BYTES",
                "data": [base64.b64encode(image_bytes("chelsea.png")).decode()],
            }
        ],
        "parameters": {"top_k": 2},
    }
    response = httpx.post(f"{service}/v2/models/efficientnet-lite0/infer", json=body, timeout=60)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["labels"]["shape"] == [1, 2]
    assert outputs["labels"]["data"][0] == by_pixels
    assert json.loads(outputs["results"]["data"][0])["classes"][0]["label"] == by_pixels


def _one(datatype: str, shape: list[int], data: list[object]) -> dict[str, object]:
    return {"inputs": [{"name": "images", "shape": shape, "datatype": datatype, "data": data}]}


CHELSEA_B64 = base64.b64encode(image_bytes("chelsea.png")).decode()
BAD_REQUESTS = {
    "unknown model": ("nope", _one("BYTES", [1], [CHELSEA_B64]), 404, "model_not_found"),
    "no inputs": ("efficientnet-lite0", {"inputs": []}, 422, "invalid_parameter"),
    "unserved datatype": ("efficientnet-lite0", _one("FP16", [1], [1]), 422, "invalid_parameter"),
    "not base64": ("efficientnet-lite0", _one("BYTES", [1], ["%%"]), 422, "invalid_parameter"),
    "shape mismatch": ("efficientnet-lite0", _one("BYTES", [2], [CHELSEA_B64]), 422, "invalid_parameter"),
    "not an image": ("efficientnet-lite0", _one("BYTES", [1], ["aGk="]), 400, "invalid_image"),
    "bad parameter": (
        "efficientnet-lite0",
        {**_one("BYTES", [1], [CHELSEA_B64]), "parameters": {"top_k": 0}},
        422,
        "invalid_parameter",
    ),
    "wrong pixels": ("efficientnet-lite0", _one("UINT8", [2, 2, 4], [0] * 16), 422, "invalid_parameter"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_bad_inference_requests_get_clear_errors(service: str, case: str) -> None:
    model, body, status, code = BAD_REQUESTS[case]
    response = httpx.post(f"{service}/v2/models/{model}/infer", json=body, timeout=60)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


def test_a_lying_binary_header_is_a_400(service: str) -> None:
    header = json.dumps({"inputs": [{"name": "images", "shape": [1], "datatype": "BYTES",
                                      "parameters": {"binary_data_size": 100}}]}).encode()  # fmt: skip
    response = httpx.post(
        f"{service}/v2/models/efficientnet-lite0/infer",
        content=header + b"\x05\x00\x00\x00abc",
        headers={"Inference-Header-Content-Length": str(len(header))},
        timeout=60,
    )
    assert response.status_code == 400, response.text
