"""/v1/explain/stream: progress while an explanation runs, the same answer at the end, and a
closed connection that frees the explainer."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.helpers import image_bytes
from visionserve_client.types import ExplainResponse, ExplainResultEvent, ProgressEvent

pytestmark = pytest.mark.e2e


def _form(**fields: Any) -> dict[str, Any]:
    return {k: [str(i) for i in v] if isinstance(v, list) else str(v) for k, v in fields.items()}


def _stream(url: str, name: str, **fields: Any) -> tuple[int, list[dict[str, Any]]]:
    files = [("images", (name, image_bytes(name)))]
    with httpx.stream(
        "POST", f"{url}/v1/explain/stream", files=files, data=_form(**fields), timeout=300
    ) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, [response.json()]
        assert response.headers["content-type"].startswith("application/x-ndjson")
        return 200, [json.loads(line) for line in response.iter_lines() if line]


def test_occlusion_reports_its_batches_then_answers_as_explain_does(service: str) -> None:
    fields = {"methods": ["saliency", "occlusion"], "stride": 16}
    status, events = _stream(service, "dog_bike_car.jpg", **fields)
    assert status == 200, events
    *progress, last = events
    assert last["event"] == "result"
    result = ExplainResultEvent.model_validate(last).response
    steps = [ProgressEvent.model_validate(e) for e in progress]
    assert {e.request_id for e in steps} == {result.request_id}
    # (A "queue" event first, if the explainer was still busy with an earlier test's work.)
    assert [e.stage for e in steps if e.done == 0 and e.stage != "queue"] == ["saliency", "occlusion"]
    occlusion = [e for e in steps if e.stage == "occlusion"]
    assert all(e.stage_index == 1 and e.stages == 2 for e in occlusion)
    assert occlusion[-1].done == occlusion[-1].total == 169  # ((224 - 32) / 16 + 1) ** 2 windows
    assert [e.done for e in occlusion] == sorted(e.done for e in occlusion)
    assert len(occlusion) >= 3  # its batches in between, not only start and end
    # The streamed answer is /v1/explain's answer.
    files = [("images", ("d.jpg", image_bytes("dog_bike_car.jpg")))]
    plain = httpx.post(f"{service}/v1/explain", files=files, data=_form(**fields), timeout=300)
    direct = ExplainResponse.model_validate_json(plain.content)
    assert direct.results[0].target == result.results[0].target
    for a, b in zip(direct.results[0].explanations, result.results[0].explanations, strict=True):
        assert (a.method, a.raw.data, a.raw.scale) == (b.method, b.raw.data, b.raw.scale)


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"methods": ["telepathy"]}, 422, "methods"),
        ({"methods": ["saliency"], "target_class": 1000}, 422, "out of range"),
        ({"methods": ["occlusion"], "patch": 500}, 422, "larger than the model input"),
        ({"methods": ["occlusion"], "stride": 1}, 422, "forward passes"),
        ({"methods": ["occlusion"], "model": "person-instances"}, 422, "offers no explanation methods"),
        ({"methods": ["saliency"], "model": "nope"}, 404, "unknown model"),
    ],
)
def test_a_bad_stream_request_is_still_its_status(
    service: str, fields: dict[str, Any], status: int, words: str
) -> None:
    got, body = _stream(service, "chelsea.png", **fields)
    assert got == status, body
    assert words in body[0]["error"]["message"]


def test_a_non_image_is_refused_before_the_stream_begins(service: str) -> None:
    files = [("images", ("notes.txt", b"these are not pixels"))]
    response = httpx.post(
        f"{service}/v1/explain/stream", files=files, data={"methods": "gradcam"}, timeout=60
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_image"


def test_closing_the_stream_cancels_the_work(service: str) -> None:
    """A long occlusion abandoned after its first batch: the explainer (one explanation at a
    time per model) takes the next request at once, not after the abandoned work's ~95 batches."""
    files = [("images", ("d.jpg", image_bytes("dog_bike_car.jpg")))]
    slow = _form(methods=["occlusion"], patch=8, stride=4)  # 3025 windows, batches of 32
    with httpx.stream("POST", f"{service}/v1/explain/stream", files=files, data=slow, timeout=300) as r:
        assert r.status_code == 200
        began = None
        for line in r.iter_lines():
            event = json.loads(line)
            if event["done"] == 0:
                began = time.monotonic()
            elif began is not None:
                batch_s = (time.monotonic() - began) / event["done"] * 32
                break
    assert event["total"] == 3025
    abandoned = time.monotonic()
    quick = httpx.post(f"{service}/v1/explain", files=files, data={"methods": "saliency"}, timeout=300)
    assert quick.status_code == 200, quick.text
    assert time.monotonic() - abandoned < 20 * batch_s


def test_a_request_behind_another_hears_how_many_are_ahead(service: str) -> None:
    """While the explainer is busy with one request, the next one's first line says it waits
    behind one, and its methods then run as usual."""
    import threading

    files = [("images", ("d.jpg", image_bytes("dog_bike_car.jpg")))]
    slow = _form(methods=["occlusion"], patch=16, stride=16)  # 196 windows: seconds of work
    started = threading.Event()
    first: list[str] = []

    def busy() -> None:
        with httpx.stream("POST", f"{service}/v1/explain/stream", files=files, data=slow, timeout=300) as r:
            for line in r.iter_lines():
                if json.loads(line).get("stage") == "occlusion":
                    started.set()
                first.append(line)

    thread = threading.Thread(target=busy)
    thread.start()
    assert started.wait(120)
    status, events = _stream(service, "chelsea.png", methods=["saliency"])
    thread.join(300)
    assert status == 200, events
    queued = [ProgressEvent.model_validate(e) for e in events if e.get("stage") == "queue"]
    assert queued, events[:3]
    assert events[0]["stage"] == "queue"
    assert queued[0].ahead == 1
    assert [e["stage"] for e in events[len(queued) : -1] if e["done"] == 0] == ["saliency"]
    assert events[-1]["event"] == "result"
    assert json.loads(first[-1])["event"] == "result"
