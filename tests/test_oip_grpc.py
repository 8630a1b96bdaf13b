"""The Open Inference Protocol's gRPC messages in and out of the checks /v2 makes, without Ray:
requests as tritonclient.grpc builds them, answers as it reads them."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import _utils as triton_utils
from tritonclient.grpc import service_pb2

from tests.helpers import image_bytes
from visionserve.config import LimitsConfig
from visionserve.errors import PayloadTooLarge, ServiceError, TooManyImages, Unprocessable
from visionserve.ingress import oip
from visionserve.ingress.grpc_oip import _document, _response
from visionserve.ingress.routers.oip import SCHEMAS
from visionserve.oip.v2 import open_inference_pb2 as pb

LIMITS = LimitsConfig()


def _sent(inputs: list[triton.InferInput], outputs: list[str] | None = None, **parameters: Any) -> Any:
    """What tritonclient.grpc puts on the wire, read as our message."""
    requested = [triton.InferRequestedOutput(name) for name in outputs] if outputs else None
    theirs = triton_utils._get_inference_request(
        "m", inputs, "", "req-1", requested, 0, False, False, 0, None, parameters
    )
    return pb.ModelInferRequest.FromString(theirs.SerializeToString())


def _checked(request: Any, task: str = "classification", pipeline: bool = False) -> oip.InferRequest:
    document, data = _document(request, LIMITS)
    return oip.parse_document(document, data, LIMITS, task, SCHEMAS[task], pipeline)


def test_encoded_images_as_tritonclient_sends_them() -> None:
    cat, street = image_bytes("chelsea.png"), image_bytes("dog_bike_car.jpg")
    images = triton.InferInput("images", [2], "BYTES")
    images.set_data_from_numpy(np.array([cat, street], dtype=np.object_))
    parsed = _checked(_sent([images], outputs=["labels"], top_k=3))
    assert parsed.images == [cat, street]
    assert parsed.params["top_k"] == 3
    assert parsed.requested == {"labels": False}
    assert parsed.id == "req-1"


def test_pixels_raw_and_as_typed_contents() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    raw = triton.InferInput("pixels", list(pixels.shape), "UINT8")
    raw.set_data_from_numpy(pixels)
    assert [p.tolist() for p in _checked(_sent([raw])).pixels] == pixels.tolist()
    typed = pb.ModelInferRequest(model_name="m")
    tensor = typed.inputs.add(name="pixels", datatype="UINT8", shape=list(pixels.shape))
    tensor.contents.uint_contents.extend(pixels.reshape(-1).tolist())
    assert [p.tolist() for p in _checked(typed).pixels] == pixels.tolist()
    tensor.contents.uint_contents[0] = 256
    with pytest.raises(Unprocessable, match=r"0\.\.255"):
        _checked(typed)


def test_encoded_images_as_typed_contents() -> None:
    cat = image_bytes("chelsea.png")
    typed = pb.ModelInferRequest(model_name="m")
    typed.inputs.add(name="images", datatype="BYTES", shape=[1]).contents.bytes_contents.append(cat)
    assert _checked(typed).images == [cat]


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (lambda r: r.raw_input_contents.append(b"more"), "raw_input_contents has 2 entries for 1 inputs"),
        (lambda r: setattr(r.inputs[0], "name", "image"), "not an input of this model"),
        (lambda r: setattr(r.inputs[0], "datatype", "FP32"), "is BYTES, not FP32"),
        (lambda r: r.inputs[0].shape.__setitem__(0, 3), "does not match"),
        (lambda r: r.outputs.add(name="logits"), "unknown outputs"),
        (lambda r: r.parameters["top_k"].MergeFrom(pb.InferParameter(string_param="many")), "top_k"),
    ],
)
def test_bad_requests_are_refused_before_any_model(change: Any, refusal: str) -> None:
    images = triton.InferInput("images", [1], "BYTES")
    images.set_data_from_numpy(np.array([image_bytes("chelsea.png")], dtype=np.object_))
    request = _sent([images])
    change(request)
    with pytest.raises(ServiceError, match=refusal) as refused:
        _checked(request)
    assert 400 <= refused.value.status < 500


def test_what_is_cheap_to_refuse_is_refused_before_any_copy() -> None:
    small = LimitsConfig(max_body_bytes=4799, max_images_per_request=4)
    request = pb.ModelInferRequest(model_name="m")
    tensor = request.inputs.add(name="pixels", datatype="UINT8", shape=[1, 40, 40, 3])
    tensor.contents.uint_contents.extend([0] * 4800)
    with pytest.raises(PayloadTooLarge):
        _document(request, small)
    raw = pb.ModelInferRequest(model_name="m", raw_input_contents=[bytes(4800)])
    raw.inputs.add(name="pixels", datatype="UINT8", shape=[1, 40, 40, 3])
    with pytest.raises(PayloadTooLarge):
        _document(raw, small)
    many = pb.ModelInferRequest(model_name="m")
    many.inputs.add(name="images", datatype="BYTES", shape=[5]).contents.bytes_contents.extend([b""] * 5)
    with pytest.raises(TooManyImages):
        _document(many, small)
    several = pb.ModelInferRequest(model_name="m")
    for _ in range(3):
        several.inputs.add(name="images", datatype="BYTES", shape=[1])
    with pytest.raises(Unprocessable, match="one input tensor"):
        _document(several, small)


def test_answers_read_by_tritonclient() -> None:
    def top(*found: tuple[str, float, int]) -> dict[str, Any]:
        return {"classes": [{"label": name, "score": score, "index": i} for name, score, i in found]}

    results = [top(("tabby", 0.75, 281), ("tiger cat", 0.2, 282)), top(("dog", 0.5, 1), ("cat", 0.25, 2))]
    asked = oip.InferRequest(id="mine")
    answer = _response(asked, "m", "v1", "rid", "classification", results)
    read = triton.InferResult(service_pb2.ModelInferResponse.FromString(answer.SerializeToString()))
    assert read.as_numpy("labels").tolist() == [[b"tabby", b"tiger cat"], [b"dog", b"cat"]]
    assert read.as_numpy("scores").tolist() == np.array([[0.75, 0.2], [0.5, 0.25]], np.float32).tolist()
    assert read.as_numpy("indices").dtype == np.int64
    assert json.loads(read.as_numpy("results")[1]) == results[1]
    response = read.get_response()
    assert (response.model_name, response.model_version, response.id) == ("m", "v1", "mine")
    assert response.parameters["request_id"].string_param == "rid"
    scores_only = oip.InferRequest(id=None, requested={"scores": False})
    only = _response(scores_only, "m", "v1", "rid", "classification", results)
    assert [o.name for o in only.outputs] == ["scores"]
    assert only.id == "rid"
