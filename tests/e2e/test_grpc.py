"""The gRPC surface through Serve's gRPC ingress, with a client generated from protos/."""

from __future__ import annotations

import grpc
import httpx
import pytest

from tests.helpers import CAT_LABELS, image_bytes
from visionserve.v1 import visionserve_pb2 as pb
from visionserve.v1.visionserve_pb2_grpc import VisionServeStub

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stub(grpc_target: str) -> VisionServeStub:
    return VisionServeStub(grpc.insecure_channel(grpc_target))


def test_grpc_detections_equal_http_ones(stub: VisionServeStub, service: str) -> None:
    data = image_bytes("dog_bike_car.jpg")
    answer = stub.Detect(pb.DetectRequest(images=[data], score_threshold=0.4), timeout=60)
    files = [("images", ("d.jpg", data))]
    http = httpx.post(f"{service}/v1/detect", files=files, data={"score_threshold": "0.4"}, timeout=60).json()
    assert answer.model_version == http["model_version"]
    ours = [(d.label, round(d.score, 4), [round(v, 1) for v in d.box]) for d in answer.results[0].detections]
    theirs = [
        (d["label"], round(d["score"], 4), [round(v, 1) for v in d["box"]])
        for d in http["results"][0]["detections"]
    ]
    assert ours == theirs
    assert {"dog", "bicycle", "car"} <= {label for label, _, _ in ours}


def test_grpc_classifies_and_lists_models(stub: VisionServeStub) -> None:
    answer = stub.Classify(pb.ClassifyRequest(images=[image_bytes("chelsea.png")], top_k=3), timeout=60)
    assert len(answer.results[0].classes) == 3
    assert answer.results[0].classes[0].label in CAT_LABELS
    assert answer.results[0].image.width > 0
    models = stub.ListModels(pb.ListModelsRequest(), timeout=30)
    assert [m.name for m in models.models][:2] == ["efficientnet-lite0", "yolox-nano"]
    assert all(m.ready for m in models.models)


CHELSEA = image_bytes("chelsea.png")
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("request_message", "status", "code"),
    [
        (pb.ClassifyRequest(images=[b"not an image"]), INVALID, "invalid_image"),
        (pb.ClassifyRequest(images=[]), INVALID, "no_images"),
        (pb.ClassifyRequest(images=[CHELSEA], model="nope"), grpc.StatusCode.NOT_FOUND, "model_not_found"),
        (pb.ClassifyRequest(images=[CHELSEA], top_k=0), INVALID, "invalid_parameter"),
        (pb.ClassifyRequest(images=[CHELSEA], model="yolox-nano"), INVALID, "task_mismatch"),
    ],
)
def test_bad_grpc_requests_get_status_codes(
    stub: VisionServeStub, request_message: pb.ClassifyRequest, status: grpc.StatusCode, code: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Classify(request_message, timeout=60)
    assert caught.value.code() == status
    assert caught.value.details().startswith(code)
    # and the service keeps answering
    assert stub.Classify(pb.ClassifyRequest(images=[image_bytes("chelsea.png")]), timeout=60).results
