"""A model placed in the ingress (``deployment.placement: ingress``, the default config's
classifier), compared with an application of its own where the same model has its own
deployment. (The gRPC surface reaches the placed classifier in tests/e2e/test_grpc.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.helpers import CAT_LABELS, classifier_app, image_bytes
from visionserve.config import DeploymentConfig, ServiceConfig
from visionserve.local import APP_NAME, LocalService
from visionserve.settings import Settings

pytestmark = pytest.mark.e2e

APP = "own-replica"
CLASSIFIER = "efficientnet-lite0"


@pytest.fixture(scope="module")
def own_replica(
    local_config: ServiceConfig, local_service: LocalService, settings: Settings
) -> Iterator[str]:
    from ray import serve

    from visionserve.local import deploy_app

    assert local_config.models[0].deployment.placement == "ingress"
    config = classifier_app(local_config, deployment=DeploymentConfig(placement="replica", num_cpus=0))
    port = deploy_app(config, name=APP, route_prefix=f"/{APP}", settings=settings)
    try:
        yield f"http://{local_service.host}:{port}/{APP}"
    finally:
        serve.delete(APP)


def _classify(url: str, data: bytes, **fields: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/classify", files=[("images", ("c.jpg", data))], data=fields, timeout=60)


def test_only_the_replica_placement_has_a_model_deployment(own_replica: str, service: str) -> None:
    from ray import serve

    applications = serve.status().applications
    assert f"model-{CLASSIFIER}" not in applications[APP_NAME].deployments
    assert set(applications[APP].deployments) == {"ingress", f"model-{CLASSIFIER}"}
    models = httpx.get(f"{service}/v1/models", timeout=30).json()["models"]
    assert next(m for m in models if m["name"] == CLASSIFIER)["ready"]


def test_answers_equal_the_model_deployment_ones(own_replica: str, service: str) -> None:
    photo = image_bytes("chelsea.png")
    ours = _classify(service, photo, top_k="5").json()
    theirs = _classify(own_replica, photo, top_k="5").json()
    assert ours["model_version"] == theirs["model_version"]
    assert [c["label"] for c in ours["results"][0]["classes"]] == [
        c["label"] for c in theirs["results"][0]["classes"]
    ]
    for a, b in zip(ours["results"][0]["classes"], theirs["results"][0]["classes"], strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
    assert ours["results"][0]["classes"][0]["label"] in CAT_LABELS


def test_concurrent_requests_batch_and_a_bad_one_fails_alone(service: str) -> None:
    from ray import serve

    ingress = serve.get_deployment_handle("ingress", app_name=APP_NAME)
    ingress._init(_run_router_in_separate_loop=True)  # Serve's throughput mode: this test has no loop
    before = ingress.colocated_batch_stats.remote(CLASSIFIER).result()
    photo = image_bytes("chelsea.png")
    bodies = [photo] * 31 + [b"this is not an image"]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda body: _classify(service, body), bodies * 2))
    after = ingress.colocated_batch_stats.remote(CLASSIFIER).result()
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
    assert images >= 62  # other tests may classify meanwhile, never fewer
    assert images / batches > 1.5, "16 callers at once should share batches"
