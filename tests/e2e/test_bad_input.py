"""Every bad input gets a clear 4xx JSON error, and the service keeps serving."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.helpers import image_bytes, png_bomb

pytestmark = pytest.mark.e2e

JPEG = image_bytes("dog_bike_car.jpg")
PNG = image_bytes("chelsea.png")


def _files(*images: bytes) -> list[tuple[str, tuple[str, bytes]]]:
    return [("images", (f"i{n}", data)) for n, data in enumerate(images)]


# (name, path, request kwargs, status, error code, words the message must contain)
CASES: list[tuple[str, str, dict[str, Any], int, str, str]] = [
    (
        "empty body",
        "/v1/classify",
        {"content": b"", "headers": {"content-type": "image/jpeg"}},
        400,
        "no_images",
        "no body",
    ),
    (
        "non-image bytes",
        "/v1/classify",
        {"content": b"GIF89 this is text", "headers": {"content-type": "image/gif"}},
        400,
        "invalid_image",
        "not a supported image",
    ),
    (
        "truncated jpeg",
        "/v1/detect",
        {"files": _files(JPEG[: len(JPEG) // 2])},
        400,
        "invalid_image",
        "could not be decoded",
    ),
    (
        "pixel bomb",
        "/v1/classify",
        {"files": _files(png_bomb(10000, 10000))},
        413,
        "image_too_large",
        "10000x10000",
    ),
    (
        "unknown model",
        "/v1/classify",
        {"files": _files(PNG), "data": {"model": "resnet-9000"}},
        404,
        "model_not_found",
        "resnet-9000",
    ),
    (
        "detector asked to classify",
        "/v1/classify",
        {"files": _files(PNG), "data": {"model": "yolox-nano"}},
        422,
        "task_mismatch",
        "/v1/detect",
    ),
    (
        "classifier asked to detect",
        "/v1/detect",
        {"files": _files(PNG), "params": {"model": "efficientnet-lite0"}},
        422,
        "task_mismatch",
        "/v1/classify",
    ),
    (
        "top_k 0",
        "/v1/classify",
        {"files": _files(PNG), "data": {"top_k": "0"}},
        422,
        "invalid_parameter",
        "top_k",
    ),
    (
        "top_k 100000",
        "/v1/classify",
        {"files": _files(PNG), "data": {"top_k": "100000"}},
        422,
        "invalid_parameter",
        "top_k",
    ),
    (
        "top_k not a number",
        "/v1/classify",
        {"files": _files(PNG), "params": {"top_k": "many"}},
        422,
        "invalid_parameter",
        "top_k",
    ),
    (
        "score_threshold 2",
        "/v1/detect",
        {"files": _files(JPEG), "data": {"score_threshold": "2"}},
        422,
        "invalid_parameter",
        "score_threshold",
    ),
    (
        "unknown parameter",
        "/v1/classify",
        {"files": _files(PNG), "data": {"topk": "3"}},
        422,
        "invalid_parameter",
        "topk",
    ),
    (
        "malformed base64",
        "/v1/classify",
        {"json": {"images": ["not*base64!"]}},
        400,
        "invalid_base64",
        "image 0",
    ),
    (
        "base64 of text",
        "/v1/classify",
        {"json": {"images": [base64.b64encode(b"hello").decode()]}},
        400,
        "invalid_image",
        "not a supported image",
    ),
    ("zero images (json)", "/v1/classify", {"json": {"images": []}}, 400, "no_images", "no image"),
    (
        "zero images (multipart)",
        "/v1/detect",
        {"files": [("top_k", (None, "3"))]},
        422,
        "invalid_parameter",
        "top_k",
    ),
    (
        "no file parts (multipart)",
        "/v1/detect",
        {"files": [("score_threshold", (None, "0.5"))]},
        400,
        "no_images",
        "no image",
    ),
    ("images not a list", "/v1/classify", {"json": {"images": "abc"}}, 422, "invalid_parameter", "images"),
    (
        "over the image limit",
        "/v1/classify",
        {"files": _files(*[PNG] * 17)},
        413,
        "too_many_images",
        "17 images",
    ),
    (
        "far over the image limit",
        "/v1/classify",
        {"files": _files(*[b"x"] * 40)},
        413,
        "too_many_images",
        "16",
    ),
    (
        "malformed json",
        "/v1/classify",
        {"content": b'{"images": [', "headers": {"content-type": "application/json"}},
        400,
        "bad_request",
        "JSON",
    ),
    (
        "json not an object",
        "/v1/classify",
        {"content": b"[1, 2]", "headers": {"content-type": "application/json"}},
        400,
        "bad_request",
        "object",
    ),
    (
        "unsupported content type",
        "/v1/classify",
        {"content": b"hello", "headers": {"content-type": "text/plain"}},
        415,
        "unsupported_media_type",
        "text/plain",
    ),
    (
        "one bad image among good",
        "/v1/classify",
        {"files": _files(PNG, b"junk", PNG)},
        400,
        "invalid_image",
        "image 1",
    ),
    (
        "body over the limit",
        "/v1/classify",
        {"content": b"\xff" * (32 * 2**20 + 1), "headers": {"content-type": "image/jpeg"}},
        413,
        "payload_too_large",
        "limit",
    ),
]


@pytest.mark.parametrize(
    ("name", "path", "kwargs", "status", "code", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_gets_a_clear_4xx(
    service: str, name: str, path: str, kwargs: dict[str, Any], status: int, code: str, words: str
) -> None:
    response = httpx.post(f"{service}{path}", timeout=60, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert words in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    # ...and the service still answers the next good request.
    ok = httpx.post(f"{service}/v1/classify", files=_files(PNG), timeout=60)
    assert ok.status_code == 200


def test_unknown_routes_and_methods_use_the_error_body(service: str) -> None:
    missing = httpx.get(f"{service}/v1/nothing", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong_method = httpx.get(f"{service}/v1/classify", timeout=10)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    unknown_model = httpx.get(f"{service}/v1/models/nope", timeout=10)
    assert unknown_model.status_code == 404
    assert unknown_model.json()["error"]["code"] == "model_not_found"


def test_bad_requests_do_not_disturb_good_ones_in_flight(service: str) -> None:
    bad = [
        {"files": _files(JPEG[:5000])},
        {"files": _files(png_bomb())},
        {"json": {"images": ["%%%"]}},
        {"files": _files(PNG), "data": {"top_k": "0"}},
    ]
    good = {"files": _files(JPEG)}
    requests = [good if i % 2 == 0 else bad[(i // 2) % len(bad)] for i in range(24)]
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda kw: httpx.post(f"{service}/v1/detect", timeout=60, **kw), requests))
    for i, response in enumerate(responses):
        if i % 2 == 0:
            assert response.status_code == 200
            labels = {d["label"] for d in response.json()["results"][0]["detections"]}
            assert {"dog", "bicycle", "car"} <= labels
        else:
            assert 400 <= response.status_code < 500
