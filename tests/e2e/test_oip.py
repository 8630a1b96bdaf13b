"""Open Inference Protocol v2 through real HTTP, with Triton's own client (test-only dependency)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image
from tritonclient.utils import InferenceServerException

from tests.helpers import CAT_LABELS, DOG_BIKE_CAR, IMAGES, image_bytes, iou

pytestmark = pytest.mark.e2e
SCHEMAS = Path(__file__).parents[1] / "schemas"
OIP_SCHEMA = json.loads((SCHEMAS / "open_inference_rest.schema.json").read_text())


def _conforms(answer: httpx.Response, definition: str) -> dict[str, Any]:
    """The answer's JSON, checked against the protocol's object of that name."""
    schema = {**OIP_SCHEMA, "$ref": f"#/$defs/{definition}"}
    document: dict[str, Any] = answer.json()
    jsonschema.Draft202012Validator(schema).validate(document)
    return document


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


def _one(datatype: str, shape: list[int], data: list[object], **more: object) -> dict[str, object]:
    name = "pixels" if datatype == "UINT8" else "images"
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data, **more}]}


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
    "pixels past 2**64": (
        "efficientnet-lite0",
        _one("UINT8", [2**32, 2**32, 3], []),
        422,
        "invalid_parameter",
    ),
    "input parameters not an object": (
        "efficientnet-lite0",
        _one("BYTES", [1], [CHELSEA_B64], parameters=[1]),
        422,
        "invalid_parameter",
    ),
    "unknown output": (
        "efficientnet-lite0",
        {**_one("BYTES", [1], [CHELSEA_B64]), "outputs": [{"name": "logits"}]},
        422,
        "invalid_parameter",
    ),
    "output parameters not an object": (
        "efficientnet-lite0",
        {**_one("BYTES", [1], [CHELSEA_B64]), "outputs": [{"name": "labels", "parameters": "x"}]},
        422,
        "invalid_parameter",
    ),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_bad_inference_requests_get_the_protocols_error(service: str, case: str) -> None:
    model, body, status, code = BAD_REQUESTS[case]
    response = httpx.post(f"{service}/v2/models/{model}/infer", json=body, timeout=60)
    assert response.status_code == status, response.text
    # The protocol's error body, a string; the request id in its header, as on every answer.
    assert list(response.json()) == ["error"]
    assert response.json()["error"].startswith(f"{code}: ")
    assert response.headers["x-request-id"]


def test_tritonclient_prints_every_error(service: str) -> None:
    client = _client(service)
    chelsea = [_bytes_input("chelsea.png")]
    tries = [
        ("model_not_found", lambda: client.infer("nope", chelsea)),
        ("model_not_found", lambda: client.get_model_metadata("nope")),
        ("model_not_found", lambda: client.get_model_metadata("efficientnet-lite0", model_version="999")),
        ("invalid_image", lambda: client.infer("efficientnet-lite0", [_raw_input(b"not an image")])),
        ("invalid_parameter", lambda: client.infer("efficientnet-lite0", chelsea, parameters={"top_k": 0})),
    ]
    for code, call in tries:
        with pytest.raises(InferenceServerException) as raised:
            call()
        printed = str(raised.value)  # the client failed inside str() on the /v1 error body
        assert code in printed, printed


def _raw_input(data: bytes) -> triton.InferInput:
    tensor = triton.InferInput("images", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([data], dtype=np.object_))
    return tensor


def test_a_wrong_input_name_is_refused_naming_the_inputs(service: str) -> None:
    tensor = triton.InferInput("image", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([image_bytes("chelsea.png")], dtype=np.object_))
    with pytest.raises(InferenceServerException) as raised:
        _client(service).infer("efficientnet-lite0", [tensor])
    assert "'image' is not an input" in str(raised.value)
    assert "'images'" in str(raised.value)
    assert raised.value.status() == "422"


def test_metadata_says_what_an_inference_answers(service: str) -> None:
    client = _client(service)
    server = client.get_server_metadata()
    assert server["name"] == "visionserve"
    assert "binary_tensor_data" in server["extensions"]
    for model, task_outputs in {
        "efficientnet-lite0": {"labels", "scores", "indices", "results"},
        "yolox-nano": {"image_index", "boxes", "scores", "labels", "results"},
    }.items():
        metadata = client.get_model_metadata(model)
        inputs = {i["name"]: (i["datatype"], i["shape"]) for i in metadata["inputs"]}
        assert inputs == {"images": ("BYTES", [-1]), "pixels": ("UINT8", [-1, -1, -1, 3])}
        declared = {o["name"]: o for o in metadata["outputs"]}
        assert set(declared) == task_outputs
        for binary in (True, False):
            asked = [triton.InferRequestedOutput(name, binary_data=binary) for name in declared]
            answer = client.infer(model, [_bytes_input("dog_bike_car.jpg")], outputs=asked)
            for name, meta in declared.items():
                sent = answer.get_output(name)
                assert sent["datatype"] == meta["datatype"], (model, name)
                assert len(sent["shape"]) == len(meta["shape"]), (model, name)
                assert all(d == -1 or d == s for d, s in zip(meta["shape"], sent["shape"], strict=True))
        config = client.get_model_config(model)
        assert config["max_batch_size"] == 0
        assert {i["name"]: i["data_type"] for i in config["input"]} == {
            "images": "TYPE_STRING",
            "pixels": "TYPE_UINT8",
        }
        assert [o["name"] for o in config["output"]] == list(declared)


def test_the_served_version_answers_on_versioned_paths(service: str) -> None:
    client = _client(service)
    version = client.get_model_metadata("efficientnet-lite0")["versions"][0]
    assert client.is_model_ready("efficientnet-lite0", model_version=version)
    assert client.get_model_metadata("efficientnet-lite0", model_version=version)["versions"] == [version]
    assert (
        client.get_model_config("efficientnet-lite0", model_version=version)["name"] == "efficientnet-lite0"
    )
    answer = client.infer("efficientnet-lite0", [_bytes_input("chelsea.png")], model_version=version)
    assert answer.get_response()["model_version"] == version
    assert answer.as_numpy("labels")[0, 0].decode() in CAT_LABELS
    assert not client.is_model_ready("efficientnet-lite0", model_version=version + "x")
    with pytest.raises(InferenceServerException) as raised:
        client.infer("efficientnet-lite0", [_bytes_input("chelsea.png")], model_version="1")
    assert raised.value.status() == "404"
    assert version in str(raised.value)


def test_the_repository_index_lists_every_model_on_v2(service: str) -> None:
    index = _client(service).get_model_repository_index()
    listed = {entry["name"]: entry for entry in index}
    models = httpx.get(f"{service}/v1/models", timeout=30).json()["models"]
    on_v2 = {m["name"]: m for m in models if m["task"] != "clip"}
    assert set(listed) == set(on_v2)
    for name, entry in listed.items():
        assert entry["state"] == "READY"
        assert entry["version"] == on_v2[name]["model_version"]
    bad = httpx.post(f"{service}/v2/repository/index", content=b"{", timeout=30)
    assert bad.status_code == 400
    assert list(bad.json()) == ["error"]


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


def test_every_v2_answer_is_the_protocols_object(service: str) -> None:
    base = f"{service}/v2"
    _conforms(httpx.get(f"{base}/health/live", timeout=30), "server_live_response")
    _conforms(httpx.get(f"{base}/health/ready", timeout=30), "server_ready_response")
    _conforms(httpx.get(base, timeout=30), "metadata_server_response")
    for model in ("efficientnet-lite0", "yolox-nano", "selfie-segmentation", "person-instances"):
        metadata = _conforms(httpx.get(f"{base}/models/{model}", timeout=30), "metadata_model_response")
        versions = metadata["versions"]
        versioned = f"{base}/models/{model}" + (f"/versions/{versions[0]}" if versions else "")
        _conforms(httpx.get(versioned, timeout=30), "metadata_model_response")
        _conforms(httpx.get(f"{versioned}/ready", timeout=30), "model_ready_response")
        body = _one("BYTES", [1], [base64.b64encode(image_bytes("dog_bike_car.jpg")).decode()])
        answer = httpx.post(f"{versioned}/infer", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        inferred = _conforms(answer, "inference_response")
        assert {o["name"] for o in inferred["outputs"]} == {o["name"] for o in metadata["outputs"]}
    refusals = [
        httpx.get(f"{base}/models/nope", timeout=30),
        httpx.get(f"{base}/models/efficientnet-lite0/versions/nope", timeout=30),
        httpx.post(f"{base}/models/efficientnet-lite0/infer", json={"inputs": []}, timeout=30),
        httpx.post(f"{base}/models/efficientnet-lite0/infer", content=b"{", timeout=30),
        httpx.get(f"{base}/no-such-path", timeout=30),
    ]
    for refused in refusals:
        assert 400 <= refused.status_code < 500, refused.text
        assert _conforms(refused, "error_response")["error"]
