"""The client's own behaviour, against httpx.MockTransport (no server)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import httpx
import pytest

from visionserve_client import (
    AsyncVisionServe,
    ConnectionFailed,
    NotFoundError,
    UnavailableError,
    UnprocessableError,
    VisionServe,
    VisionServeError,
)
from visionserve_client.types import ClassifyResponse

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
    with pytest.raises(exception) as caught, VisionServe(http_client=http) as client:
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


def test_connection_failures_are_wrapped() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    http = httpx.Client(base_url="http://vs", transport=httpx.MockTransport(handler))
    with pytest.raises(ConnectionFailed, match="refused"):
        VisionServe(http_client=http).models()


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
