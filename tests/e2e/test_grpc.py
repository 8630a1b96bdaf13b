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


def test_grpc_segments_and_explains_like_http(stub: VisionServeStub, service: str) -> None:
    astronaut = image_bytes("astronaut.png")
    answer = stub.Segment(pb.SegmentRequest(images=[astronaut], classes=["person"]), timeout=60)
    semantic = answer.results[0].semantic
    files = [("images", ("a.png", astronaut))]
    http = httpx.post(f"{service}/v1/segment", files=files, data={"classes": "person"}, timeout=60).json()
    expected = http["results"][0]["classes"][0]
    assert semantic.kind == "semantic"
    assert semantic.classes[0].label == expected["label"] == "person"
    assert semantic.classes[0].mask.counts == expected["mask"]["counts"]
    asked = pb.ExplainRequest(images=[image_bytes("chelsea.png")], methods=["gradcam"], fidelity=True)
    explained = stub.Explain(asked, timeout=120)
    result = explained.results[0]
    assert result.target.label in CAT_LABELS
    assert result.explanations[0].method == "gradcam"
    assert list(result.explanations[0].raw.shape) == [result.image.height, result.image.width]
    assert result.explanations[0].HasField("fidelity")


def test_grpc_embeds_and_scores_with_clip(zoo: str) -> None:
    from visionserve.local import direct_port

    port = direct_port("zoo", protocol="gRPC")
    assert port is not None
    clip = VisionServeStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    chelsea = image_bytes("chelsea.png")
    texts = clip.EmbedText(pb.EmbedTextRequest(texts=["a cat", "a dog"], model="clip"), timeout=60)
    images = clip.EmbedImage(pb.EmbedImageRequest(images=[chelsea], model="clip"), timeout=60)
    assert texts.dim == images.dim == len(images.results[0].embedding)
    assert [t.text for t in texts.results] == ["a cat", "a dog"]
    labels = ["hot dog, frankfurter", "tabby cat"]
    scored = clip.ZeroShot(pb.ZeroShotRequest(images=[chelsea], model="clip", labels=labels), timeout=60)
    form = {"labels": labels, "model": "clip"}
    http = httpx.post(f"{zoo}/v1/zero-shot", files=[("images", ("c.png", chelsea))], data=form).json()
    assert [s.label for s in scored.results[0].scores] == [s["label"] for s in http["results"][0]["scores"]]
    assert scored.scoring == http["scoring"]
    with pytest.raises(grpc.RpcError) as caught:
        clip.EmbedText(pb.EmbedTextRequest(texts=[], model="clip"), timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


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
