"""The client's own behaviour, against httpx.MockTransport (no server)."""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, get_args

import httpx
import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from visionserve_client import (
    NO_RETRIES,
    AsyncVisionServe,
    ConnectionFailed,
    NotFoundError,
    RequestTimeout,
    RetryPolicy,
    UnavailableError,
    UnprocessableError,
    VisionServe,
    VisionServeError,
)
from visionserve_client.types import (
    AuditExplainRequest,
    ClassifyResponse,
    ExplainMethod,
    ExplainOptions,
    ExplainRequest,
    ModelLabels,
)

SHA = "a" * 64
CLASSIFY_BODY = {
    "request_id": "r1",
    "model": "m",
    "model_version": SHA,
    "results": [
        {"image": {"width": 4, "height": 3}, "classes": [{"index": 1, "label": "cat", "score": 0.9}]}
    ],
}


def _recorder(status: int, body: object, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body, headers={"x-request-id": "hdr"})

    return httpx.MockTransport(handler)


def test_classify_sends_files_and_options_and_parses(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    image = tmp_path / "a.png"
    image.write_bytes(b"png-bytes")
    http = httpx.Client(base_url="http://vs", transport=_recorder(200, CLASSIFY_BODY, seen))
    with VisionServe(http_client=http) as client:
        result = client.classify([image, b"raw", io.BytesIO(b"fileobj")], model="m", top_k=2)
    assert isinstance(result, ClassifyResponse)
    assert result.results[0].classes[0].label == "cat"
    request = seen[0]
    assert request.url.path == "/v1/classify"
    body = request.read()
    assert body.count(b'name="images"') == 3
    assert b"png-bytes" in body
    assert b"raw" in body
    assert b"fileobj" in body
    assert b'name="top_k"' in body
    assert b'name="model"' in body


@pytest.mark.parametrize(
    ("status", "exception"),
    [(404, NotFoundError), (422, UnprocessableError), (503, UnavailableError)],
)
def test_error_bodies_become_typed_exceptions(status: int, exception: type[Exception]) -> None:
    body = {"error": {"code": "some_code", "message": "what went wrong", "request_id": "r9"}}
    http = httpx.Client(base_url="http://vs", transport=_recorder(status, body, []))
    with pytest.raises(exception) as caught, VisionServe(http_client=http, retries=NO_RETRIES) as client:
        client.classify(b"x")
    error = caught.value
    assert (error.status_code, error.code, error.message, error.request_id) == (  # type: ignore[attr-defined]
        status,
        "some_code",
        "what went wrong",
        "r9",
    )


def test_non_json_errors_still_raise_with_the_header_request_id() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="bad gateway", headers={"x-request-id": "hdr"})

    http = httpx.Client(base_url="http://vs", transport=httpx.MockTransport(handler))
    with pytest.raises(UnavailableError) as caught:
        VisionServe(http_client=http).health()
    assert caught.value.request_id == "hdr"


def test_unexpected_success_body_is_reported() -> None:
    http = httpx.Client(base_url="http://vs", transport=_recorder(200, {"nope": 1}, []))
    with pytest.raises(VisionServeError, match="unexpected response body"):
        VisionServe(http_client=http).classify(b"x")


def test_connection_failures_are_retried_then_wrapped() -> None:
    tries: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tries.append(request)
        raise httpx.ConnectError("refused", request=request)

    http = httpx.Client(base_url="http://vs", transport=httpx.MockTransport(handler))
    fast = RetryPolicy(attempts=3, backoff_s=0.01)
    with pytest.raises(ConnectionFailed, match="refused"):
        VisionServe(http_client=http, retries=fast).classify(b"x")  # never sent: safe to resend
    assert len(tries) == 3


def _flaky(answers: list[httpx.Response], seen: list[float]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(time.monotonic())
        return answers.pop(0)

    return httpx.MockTransport(handler)


def _unavailable(retry_after: str) -> httpx.Response:
    body = {"error": {"code": "overloaded", "message": "busy", "request_id": "r"}}
    return httpx.Response(503, json=body, headers={"retry-after": retry_after})


def test_503_with_retry_after_is_waited_for_then_the_200_returned() -> None:
    seen: list[float] = []
    answers = [_unavailable("1"), _unavailable("1"), httpx.Response(200, json=CLASSIFY_BODY)]
    http = httpx.Client(base_url="http://vs", transport=_flaky(answers, seen))
    started = time.monotonic()
    result = VisionServe(http_client=http).classify(b"x")
    assert result.results[0].classes[0].label == "cat"
    assert len(seen) == 3
    assert seen[1] - seen[0] >= 1.0
    assert seen[2] - seen[1] >= 1.0
    assert time.monotonic() - started >= 2.0


def test_async_client_honours_retry_after_too() -> None:
    seen: list[float] = []
    answers = [_unavailable("1"), httpx.Response(200, json=CLASSIFY_BODY)]

    async def run() -> ClassifyResponse:
        http = httpx.AsyncClient(base_url="http://vs", transport=_flaky(answers, []))
        async with AsyncVisionServe(http_client=http) as client:
            started = time.monotonic()
            result = await client.classify(b"x")
            seen.append(time.monotonic() - started)
            return result

    assert asyncio.run(run()).model == "m"
    assert seen[0] >= 1.0


def test_a_422_is_raised_at_once() -> None:
    seen: list[float] = []
    body = {"error": {"code": "bad_parameter", "message": "top_k", "request_id": "r"}}
    http = httpx.Client(base_url="http://vs", transport=_flaky([httpx.Response(422, json=body)], seen))
    with pytest.raises(UnprocessableError):
        VisionServe(http_client=http).classify(b"x")
    assert len(seen) == 1


def test_a_post_whose_fate_is_unknown_is_not_sent_again_but_a_get_is() -> None:
    tries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tries.append(request.method)
        raise httpx.ReadTimeout("no answer", request=request)

    http = httpx.Client(base_url="http://vs", transport=httpx.MockTransport(handler))
    client = VisionServe(http_client=http, retries=RetryPolicy(attempts=3, backoff_s=0.01))
    with pytest.raises(RequestTimeout):
        client.classify(b"x")
    assert tries == ["POST"]
    with pytest.raises(RequestTimeout):
        client.models()
    assert tries == ["POST", "GET", "GET", "GET"]


def test_a_retry_after_beyond_the_limit_is_not_waited_for() -> None:
    seen: list[float] = []
    http = httpx.Client(base_url="http://vs", transport=_flaky([_unavailable("3600")], seen))
    with pytest.raises(UnavailableError):
        VisionServe(http_client=http).classify(b"x")
    assert len(seen) == 1


def test_pil_images_and_numpy_arrays_are_sent_as_png() -> None:
    seen: list[httpx.Request] = []
    http = httpx.Client(base_url="http://vs", transport=_recorder(200, CLASSIFY_BODY, seen))
    pixels = np.zeros((3, 4, 3), dtype=np.uint8)
    pixels[1, 2] = (255, 0, 0)
    VisionServe(http_client=http).classify([Image.fromarray(pixels), pixels])
    body = seen[0].read()
    assert body.count(b"\x89PNG") == 2
    start = body.index(b"\x89PNG")
    decoded = np.asarray(Image.open(io.BytesIO(body[start:])))
    np.testing.assert_array_equal(decoded, pixels)  # lossless
    with pytest.raises(TypeError, match="uint8"):
        VisionServe(http_client=http).classify(np.zeros((2, 2, 3), dtype=np.float32))


def test_explain_sends_methods_and_targets_as_fields() -> None:
    seen: list[httpx.Request] = []
    http = httpx.Client(base_url="http://vs", transport=_recorder(500, {}, seen))
    with pytest.raises(VisionServeError):
        VisionServe(http_client=http, retries=NO_RETRIES).explain(
            b"img",
            methods=["gradcam", "occlusion"],
            target_box=(1, 2, 3, 4),
            overlay=True,
            options={"patch": 16},
        )
    body = seen[0].read()
    assert seen[0].url.path == "/v1/explain"
    assert body.count(b'name="methods"') == 2
    assert body.count(b'name="target_box"') == 4
    assert b'name="overlay"\r\n\r\ntrue' in body
    assert b'name="patch"\r\n\r\n16' in body


def test_bad_input_types_are_refused_before_sending() -> None:
    http = httpx.Client(base_url="http://vs", transport=_recorder(200, CLASSIFY_BODY, []))
    with pytest.raises(TypeError, match="got int"):
        VisionServe(http_client=http).classify(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="binary mode"):
        VisionServe(http_client=http).classify(io.StringIO("text"))  # type: ignore[arg-type]


def test_async_twin_sends_the_same_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=CLASSIFY_BODY)

    async def run() -> ClassifyResponse:
        http = httpx.AsyncClient(base_url="http://vs", transport=httpx.MockTransport(handler))
        async with AsyncVisionServe(http_client=http) as client:
            return await client.classify(b"raw", top_k=2)

    result = asyncio.run(run())
    assert result.model_version == SHA
    assert seen[0].url.path == "/v1/classify"
    assert b'name="top_k"' in seen[0].read()
    assert json.loads(json.dumps(CLASSIFY_BODY)) == result.model_dump(mode="json")


def test_a_stream_error_event_raises_the_api_error_it_stands_for() -> None:
    from visionserve_client import UnavailableError
    from visionserve_client.client import _streamed_result
    from visionserve_client.types import ExplainResponse

    heard: list[object] = []
    progress = (
        '{"event":"progress","request_id":"r","stage":"rise","stage_index":0,"stages":1,"done":0,"total":8}'
    )
    error = (
        '{"event":"error","status":503,'
        '"error":{"code":"model_unavailable","message":"gone","request_id":"r"}}'
    )
    with pytest.raises(UnavailableError, match="gone") as caught:
        _streamed_result([progress, "", error], heard.append, ExplainResponse)
    assert caught.value.request_id == "r"
    assert len(heard) == 1
    assert _streamed_result([progress], heard.append, ExplainResponse) is None


# ---------------------------------------------------------------- the twins: one source


def test_the_blocking_client_is_what_make_sync_generates(tmp_path: Path) -> None:
    from .conftest import ROOT

    package = ROOT / "clients" / "python" / "visionserve_client"
    script = ROOT / "clients" / "python" / "scripts" / "make_sync.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True, timeout=60)
    fresh = {path.name: path.read_text() for path in tmp_path.glob("*.py")}
    committed = {path.name: path.read_text() for path in (package / "_sync").glob("*.py")}
    assert sorted(fresh) == sorted(committed), "run python clients/python/scripts/make_sync.py"
    for name, text in fresh.items():
        assert committed[name] == text, f"_sync/{name} is stale: run clients/python/scripts/make_sync.py"
        assert text.startswith("# generated from visionserve_client/_async/")


def _public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") or name == "__init__"
    }


def test_the_twins_have_the_same_methods_with_the_same_signatures() -> None:
    blocking, awaited = _public_methods(VisionServe), _public_methods(AsyncVisionServe)
    assert sorted(blocking) == sorted(awaited)
    assert {"classify", "explain", "model", "labels", "audit_status", "deepdream", "close"} <= set(blocking)
    for name, method in blocking.items():
        twin = awaited[name]
        # Annotations are strings here: the async ones name httpx.AsyncClient where sync has Client.
        expected = re.sub(r"\bAsync(?=[A-Z])", "", str(inspect.signature(twin)))
        assert str(inspect.signature(method)) == expected, name
        assert method.__doc__ == twin.__doc__, name
        if name != "__init__":
            assert inspect.iscoroutinefunction(twin), name
            assert not inspect.iscoroutinefunction(method), name
    assert hasattr(VisionServe, "__enter__")
    assert hasattr(AsyncVisionServe, "__aenter__")


PROGRESS = (
    '{"event":"progress","request_id":"r","stage":"rise","stage_index":0,"stages":1,"done":%d,"total":2}'
)
EXPLAIN_BODY = {"request_id": "r", "model": "m", "model_version": SHA, "results": []}


def _streaming(seen: list[httpx.Request]) -> httpx.MockTransport:
    lines = [PROGRESS % 0, PROGRESS % 2, json.dumps({"event": "result", "response": EXPLAIN_BODY})]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content="\n".join(lines).encode() + b"\n")

    return httpx.MockTransport(handler)


def test_both_twins_hear_the_progress_of_a_streamed_explanation() -> None:
    seen: list[httpx.Request] = []
    heard: list[int] = []
    http = httpx.Client(base_url="http://vs", transport=_streaming(seen))
    with VisionServe(http_client=http) as client:
        answer = client.explain(b"img", on_progress=lambda event: heard.append(event.done))
    assert answer.model_version == SHA
    assert heard == [0, 2]

    async def run() -> str:
        http = httpx.AsyncClient(base_url="http://vs", transport=_streaming(seen))
        async with AsyncVisionServe(http_client=http) as client:
            answer = await client.explain(b"img", on_progress=lambda event: heard.append(event.done))
        return answer.model_version

    assert asyncio.run(run()) == SHA
    assert heard == [0, 2, 0, 2]
    assert [request.url.path for request in seen] == ["/v1/explain/stream"] * 2


# ---------------------------------------------------------------- explanation schemas


def test_every_explanation_method_can_be_asked_for_at_once() -> None:
    methods = list(get_args(ExplainMethod))
    assert len(methods) == 12
    assert ExplainRequest(images=["x"], methods=methods).methods == methods
    assert AuditExplainRequest(methods=methods).methods == methods
    assert ExplainRequest.model_json_schema()["properties"]["methods"]["maxItems"] == len(methods)
    with pytest.raises(ValidationError):
        ExplainRequest(images=["x"], methods=[*methods, "gradcam"])


def test_the_explain_default_model_is_described_as_the_server_picks_it() -> None:
    described = ExplainRequest.model_json_schema()["properties"]["model"]["description"]
    assert "the first model that offers explanations, in config order" in described
    assert "classifier" not in described


def test_recorded_explanations_take_every_option_of_explain() -> None:
    options = {n: f for n, f in ExplainRequest.model_fields.items() if n not in ("images", "model")}
    recorded = AuditExplainRequest.model_fields
    assert issubclass(AuditExplainRequest, ExplainOptions)
    assert set(recorded) == {*options, "image"}
    for name, field in options.items():
        twin = recorded[name]
        assert (twin.annotation, twin.default, twin.metadata, twin.description) == (
            field.annotation,
            field.default,
            field.metadata,
            field.description,
        ), name
    assert recorded["image"].annotation is int
    assert recorded["image"].default == 0
    assert list(ExplainRequest.model_fields)[:2] == ["images", "model"]


# ---------------------------------------------------------------- a model's labels


def test_labels_asks_for_the_models_label_set_by_its_quoted_name() -> None:
    seen: list[httpx.Request] = []
    body = {"model": "resnet50", "model_version": SHA, "labels": ["tench", "goldfish"]}
    http = httpx.Client(base_url="http://vs", transport=_recorder(200, body, seen))
    with VisionServe(http_client=http) as client:
        answer = client.labels("resnet50")
        client.labels("a/b?c")
    assert isinstance(answer, ModelLabels)
    assert answer.labels == ["tench", "goldfish"]
    assert [request.method for request in seen] == ["GET", "GET"]
    assert seen[0].url.raw_path == b"/v1/models/resnet50/labels"
    assert seen[1].url.raw_path == b"/v1/models/a%2Fb%3Fc/labels"

    async def run() -> ModelLabels:
        http = httpx.AsyncClient(base_url="http://vs", transport=_recorder(200, body, seen))
        async with AsyncVisionServe(http_client=http) as client:
            return await client.labels("resnet50", timeout=5)

    assert asyncio.run(run()) == answer
    assert seen[2].url.raw_path == b"/v1/models/resnet50/labels"


def test_a_model_without_a_label_set_has_an_empty_list_and_an_unknown_one_is_not_found() -> None:
    empty = ModelLabels(model="clip", model_version="", labels=[])
    assert empty.labels == []
    schema = ModelLabels.model_json_schema()
    assert schema["required"] == ["model", "model_version", "labels"]
    assert all(field["description"] for field in schema["properties"].values())
    body = {"error": {"code": "model_not_found", "message": "unknown model 'nope'", "request_id": "r"}}
    http = httpx.Client(base_url="http://vs", transport=_recorder(404, body, []))
    with pytest.raises(NotFoundError, match="nope"):
        VisionServe(http_client=http).labels("nope")
