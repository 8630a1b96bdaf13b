"""The route table and the routers, without Ray: a fake gateway stands where the replicas are."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.testclient import TestClient

from tests.helpers import image_bytes
from visionserve.config import AuthConfig, ServiceConfig
from visionserve.errors import ServiceError
from visionserve.ingress import routes
from visionserve.ingress.admission import gated_route
from visionserve.ingress.api import app
from visionserve.ingress.auth import Authenticator, scope_for_route
from visionserve.ingress.catalog import Catalog, Entry
from visionserve.ingress.errors import to_response
from visionserve.ingress.gateway import Caller
from visionserve.ingress.replica import NO_METRICS, Replica, publish
from visionserve.ingress.routers import audit, explain, models, oip, pages, predict, understand
from visionserve.ingress.routers.common import Services, install
from visionserve.metrics import endpoint_kind
from visionserve.outputs import PredictOutput
from visionserve_client.types import (
    Classification,
    ClassScore,
    ExplainMethod,
    ImageSize,
    ModelInfo,
    ModelLabels,
)


def test_every_route_has_a_row_and_every_row_a_route() -> None:
    served = {
        (method, route.path)
        for route in app.routes
        if hasattr(route, "path")
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    rows = {(row.method, row.path) for row in routes.ROUTES}
    assert served - rows == set(), "routes without a row in ingress.routes"
    assert rows - served == set(), "rows without a route"
    assert len(rows) == len(routes.ROUTES), "two rows for one route"


def test_scopes_kinds_and_shedding_come_from_the_rows() -> None:
    for row in routes.ROUTES:
        assert scope_for_route(row.path) == row.scope
        assert endpoint_kind(row.path) == row.kind
        assert (gated_route(row.method, row.path.replace("{name}", "m")) is not None) == row.shed
    assert {r.path for r in routes.ROUTES if r.scope is None} == {
        "/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/ui", "/ui/{asset}",
        "/docs/assets/{asset}",
    }  # fmt: skip
    # The drifts of old: the stream counted as "other", views never shed, a route that never was.
    assert endpoint_kind("/v1/explain/stream") == "explain"
    assert gated_route("POST", "/v1/understand/inversion") == "/v1/understand/inversion"
    assert gated_route("POST", "/v1/models/m/predict") is None
    assert scope_for_route("/v1/not-a-route") == "read"


class FakeGateway:
    """Answers like the replicas would, and remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[Any, ...]]] = []

    async def call(self, caller: Caller, entry: Entry, method: str, *args: Any) -> PredictOutput:
        self.calls.append((entry.name, method, args))
        result = Classification(
            image=ImageSize(width=4, height=3), classes=[ClassScore(index=281, label="tabby", score=0.75)]
        )
        return PredictOutput(model_version="v1", results=[result for _ in args[0]])

    async def explainer(self, caller: Caller, entry: Entry, method: str, *args: Any) -> PredictOutput:
        self.calls.append((entry.name, method, args))
        raise AssertionError("not reached in these tests")

    async def quick(self, target: str | None, method: str, *args: Any, timeout: float = 5.0) -> Any:
        self.calls.append((target or "explainer", method, args))
        assert method == "labels"
        assert target is not None
        return ModelLabels(model=target, model_version="v1", labels=["cat", "dog"])

    async def info(self, entry: Entry, explain_methods: Any) -> ModelInfo:
        return ModelInfo(
            name=entry.name, task=entry.task, ready=True, labels_count=2, model_version="v1",
            weights_sha256="v1", backend="fake", device="cpu", max_batch_size=1, input_size=None,
        )  # fmt: skip


@pytest.fixture(scope="module")
def fake(local_config: ServiceConfig) -> Iterator[tuple[TestClient, FakeGateway]]:
    api = FastAPI(docs_url=None, redoc_url=None)
    for concern in (predict, explain, audit, understand, models, pages, oip):
        install(api, concern.router)
    for error in (ServiceError, HTTPException, RequestValidationError, Exception):
        api.add_exception_handler(error, lambda request, exc: to_response(exc, "rid", request.scope))
    gateway = FakeGateway()
    found = Services(local_config, Catalog(local_config, True), gateway, None)  # type: ignore[arg-type]
    publish(Replica(NO_METRICS, Authenticator(AuthConfig()), None, found))
    yield TestClient(api, raise_server_exceptions=False), gateway
    publish(None)


def test_a_prediction_reaches_the_model_once_and_answers_typed(fake: tuple[TestClient, FakeGateway]) -> None:
    client, gateway = fake
    gateway.calls.clear()
    answer = client.post(
        "/v1/classify", files=[("images", ("a.png", image_bytes("chelsea.png")))], data={"top_k": "3"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == "v1"
    assert body["results"][0]["classes"][0]["label"] == "tabby"
    [(_model, method, (images, params))] = gateway.calls
    assert method == "predict"
    assert len(images) == 1
    assert params["top_k"] == 3


def test_refusals_happen_before_the_hop(
    fake: tuple[TestClient, FakeGateway], local_config: ServiceConfig
) -> None:
    client, gateway = fake
    gateway.calls.clear()
    detector = next(m.name for m in local_config.models if m.task == "detection")
    image = [("images", ("a.png", image_bytes("chelsea.png")))]
    mismatch = client.post("/v1/classify", files=image, data={"model": detector})
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["code"] == "task_mismatch"
    assert "/v1/detect" in mismatch.json()["error"]["message"]
    two = client.post("/v1/explain", files=image * 2, data={"methods": "gradcam"})
    assert two.status_code == 422
    assert "exactly one image" in two.json()["error"]["message"]
    assert gateway.calls == []


def test_an_explanation_method_the_model_lacks_is_refused_before_the_hop(
    fake: tuple[TestClient, FakeGateway], local_config: ServiceConfig
) -> None:
    client, gateway = fake
    gateway.calls.clear()
    catalog = Catalog(local_config, True)
    everything = set(get_args(ExplainMethod))
    lacking = next(
        (name, sorted(everything - set(offered))[0])
        for name, offered in catalog.explain_methods.items()
        if offered and everything - set(offered)
    )
    image = [("images", ("a.png", image_bytes("chelsea.png")))]
    answer = client.post("/v1/explain", files=image, data={"model": lacking[0], "methods": lacking[1]})
    assert answer.status_code == 422, answer.text
    assert "is not available for model" in answer.json()["error"]["message"]
    assert gateway.calls == []


def test_labels_is_one_row_one_handler(
    fake: tuple[TestClient, FakeGateway], local_config: ServiceConfig
) -> None:
    client, _gateway = fake
    name = local_config.models[0].name
    answer = client.get(f"/v1/models/{name}/labels")
    assert answer.status_code == 200
    assert answer.json() == {"model": name, "model_version": "v1", "labels": ["cat", "dog"]}
    assert client.get("/v1/models/nope/labels").json()["error"]["code"] == "model_not_found"


def test_oip_metadata_says_the_datatypes_the_tensors_have(
    fake: tuple[TestClient, FakeGateway], local_config: ServiceConfig
) -> None:
    client, _ = fake
    detection = {"image_index": "INT64", "boxes": "FP32", "scores": "FP32", "labels": "BYTES"}
    for task, expected in (
        ("classification", {"labels": "BYTES", "scores": "FP32", "indices": "INT64", "results": "BYTES"}),
        ("detection", {**detection, "results": "BYTES"}),
    ):
        name = next(m.name for m in local_config.models if m.task == task)
        outputs = client.get(f"/v2/models/{name}").json()["outputs"]
        assert {o["name"]: o["datatype"] for o in outputs} == expected
        results = [{"classes": [{"index": 1, "label": "a", "score": 0.5}], "detections": []}]
        tensors = oip_tensors(task, results)
        assert {n: t[0] for n, t in tensors.items()} == expected


def test_oip_errors_are_the_protocols_and_v1_errors_the_apis(fake: tuple[TestClient, FakeGateway]) -> None:
    client, _ = fake
    for path in ("/v2/models/nope", "/v2/models/nope/versions/1/ready", "/v2/no-such-route"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert list(answer.json()) == ["error"]
        assert answer.json()["error"].split(":")[0] in ("model_not_found", "not_found")
    v1 = client.get("/v1/models/nope").json()["error"]
    assert (v1["code"], v1["request_id"]) == ("model_not_found", "rid")


def test_the_docs_pages_load_every_file_from_the_service(fake: tuple[TestClient, FakeGateway]) -> None:
    client, _ = fake
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        linked = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert linked, html
        for url in linked:
            assert url.startswith("/docs/assets/"), url  # nothing from a CDN or Google's fonts
            answer = client.get(url)
            assert answer.status_code == 200, url
            assert len(answer.content) > 1000
        assert "fonts.googleapis" not in html
    assert "/openapi.json" in client.get("/redoc").text
    assert client.get("/docs/assets/..%2Fcore.py").status_code == 404
    assert client.get("/docs/assets/index.html").status_code == 404


def oip_tensors(task: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    from visionserve.ingress.oip import output_tensors

    return output_tensors(task, results)


def test_every_grpc_method_has_a_row_and_an_ingress_method() -> None:
    """What the gRPC port registers is what ``routes.RPCS`` lists, and Serve finds each RPC's
    ingress method by the RPC's name alone."""
    from unittest.mock import Mock

    from visionserve.ingress.api import Ingress
    from visionserve.ingress.grpc_servicer import add_servicer

    registered: set[str] = set()

    class Server:
        def add_generic_rpc_handlers(self, handlers: tuple[Any, ...]) -> None:
            for handler in handlers:
                registered.update(handler._method_handlers)

        def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
            pass

    add_servicer(Mock(), Server())
    assert registered == set(routes.RPCS)
    names = [method.rsplit("/", 1)[1] for method in routes.RPCS]
    assert len(names) == len(set(names)), "two services' RPCs share a name"
    for name in names:
        assert callable(getattr(Ingress.func_or_class, name, None)), f"the ingress has no method {name}"
