"""The Open Inference Protocol over gRPC and gRPC health checking, on the service's gRPC port,
with Triton's own gRPC client and grpcio's health stubs (test-only, unmodified)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.grpc import model_config_pb2
from tritonclient.utils import InferenceServerException

from tests.helpers import CAT_LABELS, image_bytes

pytestmark = pytest.mark.e2e
CLASSIFIER, DETECTOR = "efficientnet-lite0", "yolox-nano"
SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def client(grpc_target: str) -> Iterator[triton.InferenceServerClient]:
    found = triton.InferenceServerClient(url=grpc_target)
    yield found
    found.close()


def _images(*names: str) -> triton.InferInput:
    tensor = triton.InferInput("images", [len(names)], "BYTES")
    tensor.set_data_from_numpy(np.array([image_bytes(n) for n in names], dtype=np.object_))
    return tensor


def _v2(service: str, path: str, **kwargs: Any) -> Any:
    answer = httpx.request("POST" if "json" in kwargs else "GET", f"{service}/v2{path}", timeout=60, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _tensors(found: Any) -> list[tuple[str, str, list[int]]]:
    return [(t.name, t.datatype, list(t.shape)) for t in found]


def test_health_and_metadata_are_what_v2_says(client: triton.InferenceServerClient, service: str) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(CLASSIFIER)
    server, rest_server = client.get_server_metadata(), _v2(service, "")
    assert (server.name, server.version, list(server.extensions)) == (
        rest_server["name"], rest_server["version"], rest_server["extensions"],
    )  # fmt: skip
    for model in (CLASSIFIER, DETECTOR):
        metadata, rest = client.get_model_metadata(model), _v2(service, f"/models/{model}")
        assert (metadata.name, list(metadata.versions), metadata.platform) == (
            rest["name"], rest["versions"], rest["platform"],
        )  # fmt: skip
        assert _tensors(metadata.inputs) == [(t["name"], t["datatype"], t["shape"]) for t in rest["inputs"]]
        assert _tensors(metadata.outputs) == [(t["name"], t["datatype"], t["shape"]) for t in rest["outputs"]]
        config, rest = client.get_model_config(model).config, _v2(service, f"/models/{model}/config")
        assert (config.name, config.platform, config.backend, config.max_batch_size) == (
            rest["name"], rest["platform"], rest["backend"], 0,
        )  # fmt: skip
        assert config.version_policy.latest.num_versions == 1
        assert config.parameters["task"].string_value == rest["parameters"]["task"]["string_value"]
        inputs = [(i.name, model_config_pb2.DataType.Name(i.data_type), list(i.dims), i.optional)
                  for i in config.input]  # fmt: skip
        assert inputs == [(i["name"], i["data_type"], i["dims"], True) for i in rest["input"]]
        assert [o.name for o in config.output] == [o["name"] for o in rest["output"]]
    index = client.get_model_repository_index().models
    rest_index = _v2(service, "/repository/index", json={})
    assert [(m.name, m.version, m.state) for m in index] == [
        (m["name"], m["version"], m["state"]) for m in rest_index
    ]


def test_inference_gives_the_v2_answer(client: triton.InferenceServerClient, service: str) -> None:
    answer = client.infer(CLASSIFIER, [_images("chelsea.png", "coffee.png")], request_id="mine")
    labels, scores = answer.as_numpy("labels"), answer.as_numpy("scores")
    assert labels.shape == scores.shape == (2, 5)
    assert labels[0, 0].decode() in CAT_LABELS
    response = answer.get_response()
    assert response.id == "mine"
    assert response.model_version == client.get_model_metadata(CLASSIFIER).versions[0]
    form = [("images", ("c.png", image_bytes("chelsea.png")))]
    v1 = httpx.post(f"{service}/v1/classify", files=form, timeout=60).json()["results"][0]["classes"][0]
    assert (labels[0, 0].decode(), float(scores[0, 0])) == (v1["label"], pytest.approx(v1["score"], abs=1e-5))
    # Pixels, chosen outputs and a task parameter, on the served version.
    pixels = np.asarray(_decoded("dog_bike_car.jpg"))[None]
    tensor = triton.InferInput("pixels", list(pixels.shape), "UINT8")
    tensor.set_data_from_numpy(pixels)
    outputs = [triton.InferRequestedOutput(n) for n in ("labels", "boxes")]
    version = client.get_model_metadata(DETECTOR).versions[0]
    found = client.infer(DETECTOR, [tensor], outputs=outputs, model_version=version,
                         parameters={"score_threshold": 0.5})  # fmt: skip
    assert [o.name for o in found.get_response().outputs] == ["labels", "boxes"]
    assert {"dog", "bicycle", "car"} <= {label.decode() for label in found.as_numpy("labels")}
    assert found.as_numpy("boxes").shape == (len(found.as_numpy("labels")), 4)


def _decoded(name: str) -> Any:
    from io import BytesIO

    from PIL import Image

    return Image.open(BytesIO(image_bytes(name))).convert("RGB")


def test_tritonclient_prints_each_refusal_with_its_status(client: triton.InferenceServerClient) -> None:
    chelsea = [_images("chelsea.png")]
    wrong_name = triton.InferInput("image", [1], "BYTES")
    wrong_name.set_data_from_numpy(np.array([image_bytes("chelsea.png")], dtype=np.object_))
    junk = triton.InferInput("images", [1], "BYTES")
    junk.set_data_from_numpy(np.array([b"not an image"], dtype=np.object_))
    infer = client.infer
    logits = [triton.InferRequestedOutput("logits")]
    not_found, invalid = "StatusCode.NOT_FOUND", "StatusCode.INVALID_ARGUMENT"
    tries = [
        (not_found, "model_not_found", lambda: infer("nope", chelsea)),
        (not_found, "model_not_found", lambda: client.get_model_metadata("nope")),
        (not_found, "model_not_found", lambda: infer(CLASSIFIER, chelsea, model_version="1")),
        (invalid, "'image' is not an input", lambda: infer(CLASSIFIER, [wrong_name])),
        (invalid, "invalid_image", lambda: infer(CLASSIFIER, [junk])),
        (invalid, "unknown outputs", lambda: infer(CLASSIFIER, chelsea, outputs=logits)),
        (invalid, "top_k", lambda: infer(CLASSIFIER, chelsea, parameters={"top_k": 0})),
        ("StatusCode.UNIMPLEMENTED", "", lambda: client.get_inference_statistics(CLASSIFIER)),
    ]  # fmt: skip
    for status, words, call in tries:
        with pytest.raises(InferenceServerException) as raised:
            call()
        assert raised.value.status() == status, str(raised.value)
        assert words in str(raised.value), str(raised.value)


def test_health_checking_says_serving(grpc_target: str) -> None:
    with grpc.insecure_channel(grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "inference.GRPCInferenceService", "visionserve.v1.VisionServe"):
            assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=30).status == SERVING
        with pytest.raises(grpc.RpcError) as unknown:
            health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=30)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        listed = health.List(health_pb2.HealthListRequest(), timeout=30).statuses
        assert {name: s.status for name, s in listed.items()} == {
            "": SERVING,
            "inference.GRPCInferenceService": SERVING,
            "visionserve.v1.VisionServe": SERVING,
        }
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert next(watch).status == SERVING  # then it waits for a change: leave
        watch.cancel()
        gone = list(health.Watch(health_pb2.HealthCheckRequest(service="nope"), timeout=30))
        assert [m.status for m in gone] == [health_pb2.HealthCheckResponse.SERVICE_UNKNOWN]


def test_the_serve_proxy_port_serves_both_services_too(local_service: Any) -> None:
    """The port a Kubernetes probe and a load balancer reach: Serve's proxy, which asks for the
    application by name once it serves several (as this test session's Serve does)."""
    from visionserve.local import APP_NAME

    assert local_service.proxy_grpc_port is not None
    target = f"{local_service.host}:{local_service.proxy_grpc_port}"
    ours = [("application", APP_NAME)]
    client = triton.InferenceServerClient(url=target)
    assert client.is_server_ready(headers=dict(ours))
    answer = client.infer(CLASSIFIER, [_images("chelsea.png")], headers=dict(ours))
    assert answer.as_numpy("labels")[0, 0].decode() in CAT_LABELS
    client.close()
    with grpc.insecure_channel(target) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        assert check(health_pb2.HealthCheckRequest(), timeout=30, metadata=ours).status == SERVING
