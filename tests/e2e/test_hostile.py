"""A corpus of hostile requests against the default service: every one is the caller's fault
(4xx, or the gRPC status that says so), none a 5xx, and the service keeps answering.

Each case is a class of input, not one request: header bombs in every accepted format,
absurd shapes, deep and huge JSON, extreme and non-finite numbers in every numeric option,
NUL bytes and over-long strings in every string field, forged cursors, NUL bytes in paths,
stalled and truncated bodies, malformed and oversized protobuf.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import httpx
import pytest
from PIL import Image

from tests.helpers import encode, header_bomb, image_bytes
from visionserve.local import LocalService
from visionserve_client import types

pytestmark = pytest.mark.e2e

PNG = image_bytes("chelsea.png")
FORMATS = ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"]
# Every option of these operations, with a valid image, is tried with each bad value.
OPERATIONS: list[tuple[str, type[types.BaseModel]]] = [
    ("/v1/classify", types.ClassifyRequest),
    ("/v1/detect", types.DetectRequest),
    ("/v1/segment", types.SegmentRequest),
    ("/v1/explain", types.ExplainRequest),
]
BAD_NUMBERS: list[Any] = [1e308, -1e308, 10**30, -(10**30), "NaN", "Infinity", "-Infinity"]


def _post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, timeout=120, **kwargs)


def _assert_callers_fault(response: httpx.Response, what: str) -> None:
    what = what[:80]
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json"), what
    error = response.json()["error"]
    if response.url.path.startswith("/v2/"):  # the protocol's error: "<code>: <message>"
        assert error.split(": ", 1)[0], what
    else:
        assert error["code"], what
    assert len(response.content) < 4096, f"{what}: the error echoes the input"


@pytest.mark.parametrize("fmt", FORMATS)
def test_header_bombs_in_every_format_are_413(service: str, fmt: str) -> None:
    side = 16383 if fmt == "WEBP" else 65000
    for width, height in ((side, side), (10000, 10000)):
        bomb = header_bomb(fmt, width, height)
        started = time.perf_counter()
        response = _post(f"{service}/v1/classify", files=[("images", ("b", bomb))])
        assert response.status_code == 413, (fmt, width, response.text)
        assert response.json()["error"]["code"] == "image_too_large"
        assert time.perf_counter() - started < 5.0  # header only: no decode to wait for


@pytest.mark.parametrize(
    ("width", "height", "fmt"),
    [(1, 2000, "PNG"), (2000, 1, "PNG"), (1, 65500, "JPEG"), (65500, 1, "JPEG"), (20000, 2, "PNG")],
)
def test_absurd_aspect_ratios_cost_what_their_pixels_cost(
    service: str, width: int, height: int, fmt: str
) -> None:
    strip = encode(Image.new("RGB", (width, height), (90, 140, 200)), fmt)
    for path in ("/v1/classify", "/v1/detect", "/v1/segment"):
        started = time.perf_counter()
        response = _post(f"{service}{path}", files=[("images", ("s", strip))])
        assert response.status_code == 200, (path, response.text)
        assert response.json()["results"][0]["image"] == {"width": width, "height": height}
        assert time.perf_counter() - started < 10.0


@pytest.mark.parametrize("depth", [200, 5_000, 100_000])
def test_deeply_nested_json_is_400(service: str, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    for path, body in (
        ("/v1/classify", '{"images": ' + nested + "}"),
        ("/v1/explain", '{"images": [], "methods": ' + nested + "}"),
        ("/v1/embed/text", '{"texts": ' + nested + "}"),
        ("/v2/models/efficientnet-lite0/infer", '{"inputs": [{"name": "images", "shape": [1], '
         '"datatype": "BYTES", "data": ' + nested + "}]}"),
        ("/v1/audit/predictions/x/explain", '{"methods": ' + nested + "}"),
    ):  # fmt: skip
        response = _post(f"{service}{path}", content=body, headers={"content-type": "application/json"})
        _assert_callers_fault(response, f"{path} nested {depth}")


def test_huge_json_is_refused_by_size(service: str) -> None:
    big = json.dumps({"images": ["A" * (33 * 2**20)]})
    response = _post(f"{service}/v1/classify", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413


def _options(schema: type[types.BaseModel], kind: type) -> list[str]:
    found = []
    for name, field in schema.model_fields.items():
        if name in ("images", "model"):
            continue
        if kind.__name__ in str(field.annotation):
            found.append(name)
    return found


def _base(path: str) -> dict[str, Any]:
    image = {"images": [__import__("base64").b64encode(PNG).decode()]}
    return {**image, "methods": ["gradcam"]} if path == "/v1/explain" else image


@pytest.mark.parametrize(("path", "schema"), OPERATIONS)
def test_extreme_and_non_finite_numbers_in_every_numeric_option(
    service: str, path: str, schema: type[types.BaseModel]
) -> None:
    names = _options(schema, float) + [n for n in _options(schema, int) if n not in _options(schema, float)]
    assert names, schema
    for name in names:
        for value in BAD_NUMBERS:
            field = schema.model_fields[name]
            sent = [value] * 4 if "list" in str(field.annotation) else value
            document = json.dumps({**_base(path), name: sent}, allow_nan=True)
            document = document.replace('"NaN"', "NaN").replace('"Infinity"', "Infinity")
            document = document.replace('"-Infinity"', "-Infinity")
            response = _post(
                f"{service}{path}", content=document, headers={"content-type": "application/json"}
            )
            _assert_callers_fault(response, f"{path} {name}={value}")


@pytest.mark.parametrize(("path", "schema"), [*OPERATIONS, ("/v1/zero-shot", types.ZeroShotRequest)])
def test_nul_bytes_and_overlong_strings_in_every_string_field(
    service: str, path: str, schema: type[types.BaseModel]
) -> None:
    names = [n for n in _options(schema, str) if n != "images"] + ["model"]
    for name in names:
        field = schema.model_fields[name]
        for value in ("cat\x00dog", "x" * 100_000):
            sent = [value] if "list" in str(field.annotation) else value
            response = _post(f"{service}{path}", json={**_base(path), name: sent})
            _assert_callers_fault(response, f"{path} {name}={value[:8]!r}")
    for query in ("top_k=1%00", "model=efficientnet-lite0%00", "model=" + "m" * 10_000):
        response = _post(f"{service}/v1/classify?{query}", files=[("images", ("c", PNG))])
        _assert_callers_fault(response, query)


def test_texts_with_nul_bytes_and_overlong_texts(service: str) -> None:
    for texts in (["a photo\x00 of a cat"], ["cat " * 50_000], ["ok"] * 100_000):
        response = _post(f"{service}/v1/embed/text", json={"texts": texts})
        _assert_callers_fault(response, f"texts {texts[0][:10]!r} x{len(texts)}")


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "W10=",  # []
        "WzFlOTk5LCAieCJd",  # [1e999, "x"]
        "WyJOYU4iLCAieCJd",  # ["NaN", "x"]
        "WzEsICJ4XHUwMDAweSJd",  # [1, "x\u0000y"]
        "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1td",
        "A" * 3_000,
    ],
)
def test_forged_audit_cursors_are_422(service: str, cursor: str) -> None:
    response = httpx.get(f"{service}/v1/audit/predictions", params={"cursor": cursor}, timeout=30)
    _assert_callers_fault(response, f"cursor {cursor[:20]}")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/efficientnet%00lite0",
        "/v1/audit/predictions/abc%00def",
        "/v1/understand/reference-sets/a%00b",
        "/v2/models/efficientnet-lite0%00/ready",
        "/v1/models/" + "m" * 20_000,
    ],
)
def test_nul_bytes_and_long_names_in_paths(service: str, path: str) -> None:
    _assert_callers_fault(httpx.get(f"{service}{path}", timeout=30), path)


def test_audit_filters_with_nul_bytes(service: str) -> None:
    for name in ("model", "model_version", "label", "request_id", "since"):
        response = httpx.get(f"{service}/v1/audit/predictions", params={name: "a\x00b"}, timeout=30)
        _assert_callers_fault(response, name)


def _raw(local: LocalService, head: bytes, body: bytes) -> socket.socket:
    connection = socket.create_connection((local.host, local.port), timeout=30)
    connection.sendall(head + body)
    return connection


def _head(path: str, length: int | None, chunked: bool = False) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "host: x", "content-type: image/png"]
    lines.append("transfer-encoding: chunked" if chunked else f"content-length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.fixture
def stalled(local_service: LocalService) -> Iterator[list[socket.socket]]:
    held: list[socket.socket] = []
    yield held
    for connection in held:
        connection.close()


def test_stalled_uploads_do_not_starve_complete_requests(
    local_service: LocalService, service: str, stalled: list[socket.socket]
) -> None:
    """300 bodies that never finish (half declared, half chunked) are held open; health checks
    and a one-image classify still answer, and the stalled ones get 408 and are closed."""
    for i in range(300):
        chunked = i % 2 == 1
        head = _head("/v1/classify", None if chunked else 100_000, chunked=chunked)
        stalled.append(_raw(local_service, head, b"5\r\nhello\r\n" if chunked else PNG[:500]))
    started = time.perf_counter()
    assert httpx.get(f"{service}/healthz", timeout=10).status_code == 200
    classified = _post(f"{service}/v1/classify", files=[("images", ("c", PNG))])
    assert classified.status_code == 200
    assert time.perf_counter() - started < 10.0
    answered = b""
    while chunk := stalled[0].recv(4096):  # within limits.body_timeout_s (30 s), then closed
        answered += chunk
    assert answered.startswith(b"HTTP/1.1 408"), answered[:200]


def test_truncated_bodies_are_not_the_services_errors(local_service: LocalService, service: str) -> None:
    """Clients that declare a body and hang up midway: nobody to answer, nothing counted as 5xx."""
    metrics_url = f"http://{local_service.host}:{local_service.metrics_port}/metrics"

    def server_errors() -> float:
        text = httpx.get(metrics_url, timeout=30).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("ray_visionserve_requests_total") and 'code="5' in line
        )

    before = server_errors()
    for _ in range(40):
        _raw(local_service, _head("/v1/classify", 200_000), PNG[:1000]).close()
    time.sleep(12)  # Ray exports metrics every few seconds
    assert server_errors() == before
    assert httpx.get(f"{service}/healthz", timeout=10).status_code == 200


def test_many_bad_requests_interleaved_with_good_ones(service: str) -> None:
    bad = [
        {"files": [("images", ("b", header_bomb("JPEG", 65000, 65000)))]},
        {"content": "[" * 10_000, "headers": {"content-type": "application/json"}},
        {"json": {"images": ["AAAA"], "top_k": 10**40}},
        {"json": {"images": ["AAAA"], "model": "x\x00"}},
    ]
    good = {"files": [("images", ("c", PNG))]}
    requests = [good if i % 2 == 0 else bad[(i // 2) % len(bad)] for i in range(40)]
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda kw: _post(f"{service}/v1/classify", **kw), requests))
    for i, response in enumerate(answers):
        if i % 2 == 0:
            assert response.status_code == 200
        else:
            _assert_callers_fault(response, f"bad {i}")


def _raw_grpc(target: str, method: str, payload: bytes) -> grpc.RpcError | bytes:
    channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 200 * 2**20)])
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    try:
        return bytes(call(payload, timeout=60))
    except grpc.RpcError as exc:
        return exc
    finally:
        channel.close()


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\xff\xff\xff\xff\xff\xff", grpc.StatusCode.INVALID_ARGUMENT),  # not a protobuf
        (b"\x0a\xff\xff\xff\xff\x0f", grpc.StatusCode.INVALID_ARGUMENT),  # a field longer than the message
        (b"\x0a" + b"\x80" * 11, grpc.StatusCode.INVALID_ARGUMENT),  # a varint past 64 bits
        (
            b"\x0a\x88\x80\x80\x37" + bytes(110 * 2**20),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ),
    ],
)
def test_malformed_and_oversized_protobuf(
    grpc_target: str, payload: bytes, expected: grpc.StatusCode
) -> None:
    answer = _raw_grpc(grpc_target, "/visionserve.v1.VisionServe/Classify", payload)
    assert isinstance(answer, grpc.RpcError), answer[:100]
    assert answer.code() == expected, (answer.code(), answer.details())


def test_grpc_non_finite_options_are_invalid_argument(grpc_target: str) -> None:
    from visionserve.v1 import visionserve_pb2 as pb
    from visionserve.v1.visionserve_pb2_grpc import VisionServeStub

    stub = VisionServeStub(grpc.insecure_channel(grpc_target))
    for options in ({"fill": float("nan")}, {"fill": float("inf")}, {"noise_level": float("nan")}):
        request = pb.ExplainRequest(images=[PNG], methods=["occlusion"], **options)
        started = time.perf_counter()
        with pytest.raises(grpc.RpcError) as refused:
            stub.Explain(request, timeout=120)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        assert time.perf_counter() - started < 5.0  # refused before the explanation runs
