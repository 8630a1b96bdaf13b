"""API keys through real HTTP and gRPC: an application of its own with three keys."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from tests.helpers import image_bytes
from visionserve.config import ApiKey, AuthConfig, ServiceConfig
from visionserve.local import LocalService
from visionserve.settings import Settings
from visionserve.v1 import visionserve_pb2 as pb
from visionserve.v1.visionserve_pb2_grpc import VisionServeStub
from visionserve_client import VisionServe
from visionserve_client.errors import AuthenticationError, PermissionDeniedError

pytestmark = pytest.mark.e2e

APP = "secured"
READ, APP_KEY, AUDIT = "k-read-0123456789", "k-app-0123456789", "k-audit-0123456789"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def secured(
    local_config: ServiceConfig, local_service: LocalService, settings: Settings
) -> Iterator[tuple[str, str]]:
    """(base URL, gRPC host:port) of the classifier and its explainer, behind three keys."""
    from ray import serve

    from visionserve.local import deploy_app, direct_port

    classifier = local_config.models[0]
    config = local_config.model_copy(
        update={
            "ingress": local_config.ingress.model_copy(update={"num_cpus": 0}),
            # Explanations time out at once here: what passes authentication then shows as 504.
            "limits": local_config.limits.model_copy(update={"explain_timeout_s": 0.01}),
            "explainer": local_config.explainer.model_copy(update={"num_cpus": 0}),
            "models": [classifier],  # in the ingress, with its CPUs
            "pipelines": [],
            "auth": AuthConfig(
                keys=[
                    ApiKey(name="dashboard", sha256=_digest(READ), scopes=["read"]),
                    ApiKey(name="app", sha256=_digest(APP_KEY)),
                    ApiKey(name="auditor", sha256=_digest(AUDIT), scopes=["read", "explain", "audit"]),
                ]
            ),
        }
    )
    port = deploy_app(config, name=APP, route_prefix=f"/{APP}", settings=settings)
    grpc_port = direct_port(APP, protocol="gRPC")
    assert port is not None
    assert grpc_port is not None
    try:
        yield f"http://{local_service.host}:{port}/{APP}", f"{local_service.host}:{grpc_port}"
    finally:
        serve.delete(APP)


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _audited(url: str, request_id: str) -> httpx.Response:
    """The audit record of a request, read with the auditor's key once the writer has it."""
    record = f"{url}/v1/audit/predictions/{request_id}"
    deadline = time.monotonic() + 10
    while (found := httpx.get(record, headers=_bearer(AUDIT), timeout=30)).status_code == 404:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert found.status_code == 200, found.text
    return found


def test_only_health_answers_without_a_key(secured: tuple[str, str]) -> None:
    url, _ = secured
    assert httpx.get(f"{url}/healthz").status_code == 200
    assert httpx.get(f"{url}/readyz", timeout=30).status_code == 200
    assert httpx.get(f"{url}/ui", timeout=30).status_code == 200  # the page holds no data: it asks for a key
    for method, path in [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/efficientnet-lite0"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
        ("POST", "/v1/classify"),
        ("POST", "/v1/explain"),
        ("POST", "/v1/explain/stream"),
        ("POST", "/v2/models/efficientnet-lite0/infer"),
        ("GET", "/no/such/route"),
    ]:
        answer = httpx.request(method, f"{url}{path}")
        assert answer.status_code == 401, (path, answer.text)
        error = answer.json()["error"]
        if path.startswith("/v2/"):  # the protocol's error body, under the application's prefix too
            assert error.startswith("unauthorized: ")
        else:
            assert error["code"] == "unauthorized"
        assert answer.headers["www-authenticate"].startswith("Bearer")


def test_wrong_key_401_right_key_wrong_scope_403(secured: tuple[str, str]) -> None:
    url, _ = secured
    files = {"images": ("cat.png", image_bytes("chelsea.png"))}
    wrong = httpx.post(f"{url}/v1/classify", files=files, headers=_bearer("k-app-0123456788"))
    assert wrong.status_code == 401
    assert "k-app" not in wrong.text  # a key is never echoed
    assert httpx.get(f"{url}/v1/models", headers=_bearer(READ)).status_code == 200
    read_only = httpx.post(f"{url}/v1/classify", files=files, headers=_bearer(READ), timeout=60)
    assert read_only.status_code == 403
    assert read_only.json()["error"]["code"] == "forbidden"
    assert (
        httpx.post(f"{url}/v1/classify", files=files, headers={"x-api-key": APP_KEY}, timeout=60).status_code
        == 200
    )
    assert (
        httpx.post(f"{url}/v1/explain", files=files, headers=_bearer(APP_KEY), timeout=60).status_code == 403
    )
    # The auditor's key passes; explanations have 10 ms here (limits.explain_timeout_s), and
    # predictions their own, longer, timeout.
    gradcam = {"methods": "gradcam"}
    behind = httpx.post(f"{url}/v1/explain", files=files, data=gradcam, headers=_bearer(AUDIT), timeout=60)
    assert behind.status_code == 504, behind.text
    assert behind.json()["error"]["code"] == "timeout"
    assert httpx.get(f"{url}/no/such/route", headers=_bearer(READ)).status_code == 404
    # The understanding views read the weights and keep data: the explain scope, as explanations.
    filters = f"{url}/v1/understand/filters"
    assert httpx.get(filters, headers=_bearer(READ), timeout=60).status_code == 403
    assert (
        httpx.get(f"{url}/v1/understand/reference-sets", headers=_bearer(APP_KEY), timeout=60).status_code
        == 403
    )
    # The auditor's key passes: answered, or out of its 10 ms (the filters are small enough to
    # be drawn in time on an idle machine).
    assert httpx.get(filters, headers=_bearer(AUDIT), timeout=60).status_code in (200, 504)


def test_client_sends_its_key(secured: tuple[str, str]) -> None:
    url, _ = secured
    with VisionServe(url, api_key=APP_KEY) as client:
        answer = client.classify([image_bytes("chelsea.png")], top_k=1)
    assert answer.results[0].classes
    with VisionServe(url, api_key=READ) as client, pytest.raises(PermissionDeniedError):
        client.classify([image_bytes("chelsea.png")])
    with VisionServe(url) as client, pytest.raises(AuthenticationError):
        client.models()


def test_grpc_keys_in_metadata(secured: tuple[str, str]) -> None:
    _, target = secured
    stub = VisionServeStub(grpc.insecure_channel(target))
    request = pb.ClassifyRequest(images=[image_bytes("chelsea.png")], top_k=1)
    with pytest.raises(grpc.RpcError) as missing:
        stub.Classify(request, timeout=60)
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as scoped:
        stub.Classify(request, timeout=60, metadata=[("authorization", f"Bearer {READ}")])
    assert scoped.value.code() == grpc.StatusCode.PERMISSION_DENIED
    answer = stub.Classify(request, timeout=60, metadata=[("x-api-key", APP_KEY)])
    assert answer.results[0].classes
    models = stub.ListModels(pb.ListModelsRequest(), timeout=30, metadata=[("x-api-key", READ)])
    assert [m.name for m in models.models] == ["efficientnet-lite0"]


def test_open_inference_and_health_over_grpc_take_the_same_keys(secured: tuple[str, str]) -> None:
    import numpy as np
    import tritonclient.grpc as triton
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from tritonclient.utils import InferenceServerException

    url, target = secured
    client = triton.InferenceServerClient(url=target)
    images = triton.InferInput("images", [1], "BYTES")
    images.set_data_from_numpy(np.array([image_bytes("chelsea.png")], dtype=np.object_))
    # Health is open, as /readyz is: probes carry no keys.
    assert client.is_server_live()
    assert client.is_server_ready()
    with grpc.insecure_channel(target) as channel:
        checked = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
    assert checked.status == health_pb2.HealthCheckResponse.SERVING
    refusals = [
        ("StatusCode.UNAUTHENTICATED", lambda: client.get_model_metadata("efficientnet-lite0")),
        ("StatusCode.UNAUTHENTICATED", lambda: client.infer("efficientnet-lite0", [images])),
        ("StatusCode.PERMISSION_DENIED",
         lambda: client.infer("efficientnet-lite0", [images], headers={"x-api-key": READ})),
    ]  # fmt: skip
    for status, call in refusals:
        with pytest.raises(InferenceServerException) as refused:
            call()
        assert refused.value.status() == status, str(refused.value)
    assert client.get_model_metadata("efficientnet-lite0", headers={"x-api-key": READ}).name
    answer = client.infer("efficientnet-lite0", [images], headers={"authorization": f"Bearer {APP_KEY}"})
    request_id = answer.get_response().parameters["request_id"].string_param
    assert _audited(url, request_id).json()["caller"] == "app"  # the key that asked, as for HTTP
    client.close()


def test_the_audit_page_asks_for_a_key_and_shows_what_it_may_not_do(
    secured: tuple[str, str], browser: Any
) -> None:
    """Under a route prefix (/secured): the page's relative URLs reach this application."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.helpers import IMAGES

    url, _ = secured
    wait = WebDriverWait(browser, 60, poll_frequency=0.2)
    browser.set_window_size(1280, 800)
    browser.get(f"{url}/ui")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    form = wait.until(
        lambda b: (
            b.find_element(By.ID, "key-form") if b.find_element(By.ID, "key-form").is_displayed() else None
        )
    )
    error = browser.find_element(By.ID, "error")
    assert error.text.startswith("unauthorized: an API key is required")

    def use_key(key: str) -> None:
        browser.find_element(By.ID, "key").send_keys(key)
        form.find_element(By.TAG_NAME, "button").click()

    use_key("k-not-a-key-0000")
    wait.until(lambda b: "the API key is not valid" in b.find_element(By.ID, "error").text)
    assert form.is_displayed()
    use_key(APP_KEY)
    wait.until(lambda b: b.find_element(By.ID, "model").is_enabled())
    assert not form.is_displayed()
    assert "k-app" not in browser.page_source  # the key is not written into the page
    browser.find_element(By.ID, "file").send_keys(str(IMAGES / "chelsea.png"))
    browser.find_element(By.ID, "predict").click()
    top = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#targets button"))[0]
    top.click()
    browser.find_element(By.ID, "explain").click()
    wait.until(lambda b: b.find_element(By.ID, "error").is_displayed())
    assert (
        "forbidden: the API key 'app' does not allow 'explain'" in browser.find_element(By.ID, "error").text
    )
    assert browser.find_element(By.ID, "key-form").is_displayed()  # a chance to use another key
    browser.execute_script("sessionStorage.clear()")


def test_audit_reads_need_the_audit_scope_and_records_name_the_caller(secured: tuple[str, str]) -> None:
    url, _ = secured
    files = {"images": ("cat.png", image_bytes("chelsea.png"))}
    answer = httpx.post(f"{url}/v1/classify", files=files, headers=_bearer(APP_KEY), timeout=60).json()
    listing = f"{url}/v1/audit/predictions"
    assert httpx.get(listing, headers=_bearer(APP_KEY), timeout=30).status_code == 403
    assert httpx.get(listing, headers=_bearer(READ), timeout=30).status_code == 403
    assert httpx.get(listing, timeout=30).status_code == 401
    found = _audited(url, answer["request_id"])
    assert found.json()["caller"] == "app"  # the key's name, never the key
    assert APP_KEY not in found.text
