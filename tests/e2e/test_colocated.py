"""A model placed in the ingress (``deployment.placement: ingress``): an application of its own
whose classifier runs inside the ingress replica, compared with the session's service, where
the same model has its own deployment."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import pytest

from tests.helpers import CAT_LABELS, image_bytes
from visionserve.config import ServiceConfig
from visionserve.local import LocalService
from visionserve.settings import Settings
from visionserve.v1 import visionserve_pb2 as pb
from visionserve.v1.visionserve_pb2_grpc import VisionServeStub

pytestmark = pytest.mark.e2e

APP = "colocated"


@pytest.fixture(scope="module")
def colocated(local_config: ServiceConfig, local_service: LocalService, settings: Settings) -> Iterator[str]:
    from ray import serve

    from visionserve.local import deploy_app

    classifier = local_config.models[0]
    # Only decode_threads and placement: a colocated model has no replica settings of its own.
    deployment = type(classifier.deployment)(placement="ingress", decode_threads=2)
    config = local_config.model_copy(
        update={
            "ingress": local_config.ingress.model_copy(update={"num_cpus": 0}),
            "explainer": local_config.explainer.model_copy(update={"enabled": False}),
            "models": [classifier.model_copy(update={"deployment": deployment})],
            "pipelines": [],
        }
    )
    port = deploy_app(config, name=APP, route_prefix=f"/{APP}", settings=settings)
    try:
        yield f"http://{local_service.host}:{port}/{APP}"
    finally:
        serve.delete(APP)


def _classify(url: str, data: bytes, **fields: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/classify", files=[("images", ("c.jpg", data))], data=fields, timeout=60)


def test_the_application_has_no_model_deployment(colocated: str) -> None:
    from ray import serve

    assert set(serve.status().applications[APP].deployments) == {"ingress"}
    models = httpx.get(f"{colocated}/v1/models", timeout=30).json()["models"]
    assert [(m["name"], m["ready"]) for m in models] == [("efficientnet-lite0", True)]


def test_answers_equal_the_model_deployment_ones(colocated: str, service: str) -> None:
    photo = image_bytes("chelsea.png")
    ours = _classify(colocated, photo, top_k="5").json()
    theirs = _classify(service, photo, top_k="5").json()
    assert ours["model_version"] == theirs["model_version"]
    assert [c["label"] for c in ours["results"][0]["classes"]] == [
        c["label"] for c in theirs["results"][0]["classes"]
    ]
    for a, b in zip(ours["results"][0]["classes"], theirs["results"][0]["classes"], strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
    assert ours["results"][0]["classes"][0]["label"] in CAT_LABELS


def test_concurrent_requests_batch_and_a_bad_one_fails_alone(colocated: str) -> None:
    from ray import serve

    ingress = serve.get_deployment_handle("ingress", app_name=APP)
    ingress._init(_run_router_in_separate_loop=True)  # Serve's throughput mode: this test has no loop
    before = ingress.colocated_batch_stats.remote("efficientnet-lite0").result()
    photo = image_bytes("chelsea.png")
    bodies = [photo] * 31 + [b"this is not an image"]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda body: _classify(colocated, body), bodies * 2))
    after = ingress.colocated_batch_stats.remote("efficientnet-lite0").result()
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 62
    assert statuses.count(400) == 2
    bad = next(a for a in answers if a.status_code == 400).json()
    assert bad["error"]["code"] == "invalid_image"
    assert bad["error"]["request_id"]
    served = [a.json() for a in answers if a.status_code == 200]
    assert all(s["results"][0]["classes"][0]["label"] in CAT_LABELS for s in served)
    images = after["images"] - before["images"]
    batches = after["batches"] - before["batches"]
    assert images == 62
    assert images / batches > 1.5, "16 callers at once should share batches"


def test_grpc_reaches_the_colocated_model(colocated: str, local_service: LocalService) -> None:
    from visionserve.local import direct_port

    port = direct_port(APP, "gRPC")
    assert port is not None
    stub = VisionServeStub(grpc.insecure_channel(f"{local_service.host}:{port}"))
    answer = stub.Classify(pb.ClassifyRequest(images=[image_bytes("chelsea.png")], top_k=3), timeout=60)
    assert answer.results[0].classes[0].label in CAT_LABELS
