"""The real path: HTTP -> ingress on a local Ray Serve -> batched model replicas."""

from __future__ import annotations

import base64
import contextlib
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.helpers import CAT_LABELS, DOG_BIKE_CAR, image_bytes, iou, with_exif_orientation
from visionserve_client.types import MAX_TOP_K, ClassifyResponse

pytestmark = pytest.mark.e2e

CLASSIFIER_SHA = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
DETECTOR_SHA = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"


def _multipart(url: str, path: str, names: list[str], **fields: Any) -> httpx.Response:
    files = [("images", (n, image_bytes(n))) for n in names]
    return httpx.post(f"{url}{path}", files=files, data={k: str(v) for k, v in fields.items()}, timeout=60)


def _labels(result: dict[str, Any]) -> list[str]:
    return [c["label"] for c in result["classes"]]


def _best(result: dict[str, Any], label: str, expected: tuple[int, ...]) -> dict[str, Any]:
    return max(
        (d for d in result["detections"] if d["label"] == label),
        key=lambda d: iou(d["box"], expected),
    )


def test_classify_cat_and_coffee(service: str) -> None:
    response = _multipart(service, "/v1/classify", ["chelsea.png", "coffee.png"], top_k=3)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "efficientnet-lite0"
    assert body["model_version"] == CLASSIFIER_SHA
    assert body["request_id"] == response.headers["x-request-id"]
    cat, coffee = body["results"]
    assert _labels(cat)[0] in CAT_LABELS
    assert {"espresso", "cup"} & set(_labels(coffee)[:2])
    assert len(cat["classes"]) == 3
    assert cat["image"] == {"width": 451, "height": 300}
    scores = [c["score"] for c in cat["classes"]]
    assert scores == sorted(scores, reverse=True)


def test_detect_dog_bicycle_car(service: str) -> None:
    response = _multipart(service, "/v1/detect", ["dog_bike_car.jpg"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["model_version"]) == ("yolox-nano", DETECTOR_SHA)
    result = body["results"][0]
    assert result["image"] == {"width": 768, "height": 576}
    for label, expected in DOG_BIKE_CAR.items():
        best = _best(result, label, expected)
        assert iou(best["box"], expected) >= 0.85, best
        assert best["score"] >= 0.6
    for detection in result["detections"]:
        x1, y1, x2, y2 = detection["box"]
        assert 0 <= x1 < x2 <= 768
        assert 0 <= y1 < y2 <= 576


def test_astronaut_is_one_person_covering_most_of_the_image(service: str) -> None:
    result = _multipart(service, "/v1/detect", ["astronaut.png"]).json()["results"][0]
    people = [d for d in result["detections"] if d["label"] == "person"]
    assert len(people) == 1
    x1, y1, x2, y2 = people[0]["box"]
    assert (x2 - x1) * (y2 - y1) > 0.5 * 512 * 512


def test_three_body_kinds_give_the_same_answer(service: str) -> None:
    data = image_bytes("coffee.png")
    raw = httpx.post(
        f"{service}/v1/classify?top_k=4", content=data, headers={"content-type": "image/png"}, timeout=60
    )
    as_json = httpx.post(
        f"{service}/v1/classify",
        json={"images": [base64.b64encode(data).decode()], "top_k": 4},
        timeout=60,
    )
    as_data_uri = httpx.post(
        f"{service}/v1/classify",
        json={"images": ["data:image/png;base64," + base64.b64encode(data).decode()], "top_k": 4},
        timeout=60,
    )
    multipart = _multipart(service, "/v1/classify", ["coffee.png"], top_k=4)
    answers = [r.json()["results"] for r in (raw, as_json, as_data_uri, multipart)]
    assert all(r.status_code == 200 for r in (raw, as_json, as_data_uri, multipart))
    assert answers[0] == answers[1] == answers[2] == answers[3]


def test_several_images_equal_one_by_one_in_order(service: str) -> None:
    names = ["dog_bike_car.jpg", "chelsea.png", "astronaut.png", "coffee.png", "rocket.jpg"]
    for path in ("/v1/classify", "/v1/detect"):
        together = _multipart(service, path, names).json()["results"]
        alone = [_multipart(service, path, [n]).json()["results"][0] for n in names]
        assert len(together) == len(names)
        for a, b in zip(together, alone, strict=True):
            assert a["image"] == b["image"]
            if path == "/v1/classify":
                assert _labels(a) == _labels(b)
            else:
                assert [d["label"] for d in a["detections"]] == [d["label"] for d in b["detections"]]


def test_a_request_of_many_megabytes_travels_between_deployments(service: str) -> None:
    names = ["astronaut.png", "motorcycle_left.png", "coffee.png"] * 5  # about 9.5 MB in one request
    response = _multipart(service, "/v1/classify", names)
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == len(names)


def test_callers_that_hang_up_leave_the_service_answering(service: str) -> None:
    # Disconnects cancel requests at every stage (queued, decoding, batched); none may keep a
    # place in the replica's queues, or later requests would wait forever.
    names = ["coffee.png", "astronaut.png"] * 4

    def abandon(round_number: int) -> None:
        with contextlib.suppress(httpx.TimeoutException):
            _multipart_timeout(service, names, timeout=0.02 + 0.03 * round_number)

    for round_number in range(4):
        with ThreadPoolExecutor(24) as pool:
            list(pool.map(abandon, [round_number] * 24))
    response = _multipart(service, "/v1/classify", ["chelsea.png"])
    assert response.status_code == 200, response.text


def _multipart_timeout(url: str, names: list[str], timeout: float) -> httpx.Response:
    files = [("images", (n, image_bytes(n))) for n in names]
    return httpx.post(f"{url}/v1/classify", files=files, timeout=timeout)


def test_concurrent_requests_each_get_their_own_answer(service: str) -> None:
    names = ["chelsea.png", "coffee.png", "dog_bike_car.jpg", "astronaut.png"] * 4
    expected = {n: _labels(_multipart(service, "/v1/classify", [n]).json()["results"][0]) for n in set(names)}
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda n: _multipart(service, "/v1/classify", [n]), names))
    for name, response in zip(names, answers, strict=True):
        assert response.status_code == 200
        assert _labels(response.json()["results"][0]) == expected[name]


@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_exif_rotated_photo_is_seen_upright(service: str, orientation: int) -> None:
    upright = Image.open(io.BytesIO(image_bytes("dog_bike_car.jpg"))).convert("RGB")
    rotated = with_exif_orientation(upright, orientation)
    upright_jpeg = with_exif_orientation(upright, 1)
    files = [("images", ("up.jpg", upright_jpeg)), ("images", ("rot.jpg", rotated))]
    classified = httpx.post(f"{service}/v1/classify", files=files, timeout=60).json()["results"]
    assert _labels(classified[0])[0] == _labels(classified[1])[0]
    detected = httpx.post(f"{service}/v1/detect", files=files[1:], timeout=60).json()["results"][0]
    assert detected["image"] == {"width": 768, "height": 576}
    for label, expected in DOG_BIKE_CAR.items():
        assert iou(_best(detected, label, expected)["box"], expected) >= 0.85


def test_parameters_change_the_answer(service: str) -> None:
    one = _multipart(service, "/v1/classify", ["chelsea.png"], top_k=1).json()["results"][0]
    assert len(one["classes"]) == 1
    strict = _multipart(service, "/v1/detect", ["dog_bike_car.jpg"], score_threshold=0.8).json()
    assert all(d["score"] >= 0.8 for d in strict["results"][0]["detections"])
    capped = _multipart(service, "/v1/detect", ["dog_bike_car.jpg"], max_detections=2).json()
    assert len(capped["results"][0]["detections"]) == 2
    chosen = _multipart(service, "/v1/classify", ["chelsea.png"], model="efficientnet-lite0").json()
    assert chosen["model"] == "efficientnet-lite0"


def test_models_and_health(service: str) -> None:
    models = httpx.get(f"{service}/v1/models", timeout=30).json()["models"]
    by_name = {m["name"]: m for m in models}
    assert by_name["efficientnet-lite0"]["task"] == "classification"
    assert by_name["efficientnet-lite0"]["labels_count"] == 1000
    assert by_name["efficientnet-lite0"]["input_size"] == [224, 224]
    assert by_name["yolox-nano"]["weights_sha256"] == DETECTOR_SHA
    assert by_name["yolox-nano"]["labels_count"] == 80
    assert all(m["ready"] for m in models)
    one = httpx.get(f"{service}/v1/models/yolox-nano", timeout=30)
    assert one.json() == by_name["yolox-nano"]
    assert httpx.get(f"{service}/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(f"{service}/readyz", timeout=30)
    assert ready.status_code == 200
    assert ready.json()["models"] == dict.fromkeys(
        ["efficientnet-lite0", "yolox-nano", "selfie-segmentation", "person-instances"], True
    )


def test_request_id_is_echoed_or_assigned(service: str) -> None:
    mine = _multipart_with_header(service, {"x-request-id": "audit-42"})
    assert mine.headers.get_list("x-request-id") == ["audit-42"]
    assert mine.json()["request_id"] == "audit-42"
    assigned = _multipart_with_header(service, {})
    assert len(assigned.headers.get_list("x-request-id")) == 1
    assert assigned.json()["request_id"] == assigned.headers["x-request-id"]
    failed = httpx.post(f"{service}/v1/classify", content=b"", headers={"x-request-id": "bad-1"}, timeout=10)
    assert failed.json()["error"]["request_id"] == "bad-1"
    assert failed.headers.get_list("x-request-id") == ["bad-1"]


def _multipart_with_header(service: str, headers: dict[str, str]) -> httpx.Response:
    files = [("images", ("c.png", image_bytes("chelsea.png")))]
    return httpx.post(f"{service}/v1/classify", files=files, headers=headers, timeout=60)


def test_openapi_documents_the_api(service: str) -> None:
    spec = httpx.get(f"{service}/openapi.json", timeout=10).json()
    assert {"/v1/classify", "/v1/detect", "/v1/models", "/v1/models/{name}", "/healthz", "/readyz"} <= set(
        spec["paths"]
    )
    body = spec["paths"]["/v1/classify"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json", "image/*"} <= set(body)
    assert httpx.get(f"{service}/docs", timeout=10).status_code == 200
    # The served document is the application's own: no parameter gains an empty example (a
    # pickled copy of the app loses FastAPI's "unset" markers and says `"example": {}`).
    operations = [op for path in spec["paths"].values() for op in path.values()]
    parameters = [p for op in operations for p in op.get("parameters", [])]
    assert {p["name"] for p in parameters} >= {"name", "model", "record_id", "set_id", "cursor"}
    assert [p["name"] for p in parameters if p.get("example") == {}] == []


def test_responses_are_the_bytes_fastapi_renders(service: str) -> None:
    """The body is pydantic's JSON of the response model, as FastAPI's response_model path
    writes it: small scores as 0.000012 (json.dumps would write 1.2e-05), compact, UTF-8."""
    files = [("images", ("c.png", image_bytes("chelsea.png")))]
    answer = httpx.post(f"{service}/v1/classify", files=files, data={"top_k": str(MAX_TOP_K)}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    parsed = ClassifyResponse.model_validate_json(answer.content)
    assert min(c.score for c in parsed.results[0].classes) < 1e-4  # so the check below bites
    assert answer.content == parsed.model_dump_json(by_alias=True).encode()
    assert b"e-0" not in answer.content
