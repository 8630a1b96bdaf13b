"""The real client against the real service."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import CAT_LABELS, IMAGES, image_bytes
from visionserve_client import AsyncVisionServe, NotFoundError, UnprocessableError, VisionServe
from visionserve_client.types import DetectResponse

pytestmark = pytest.mark.e2e


def test_sync_client_classifies_detects_and_describes(service: str) -> None:
    with VisionServe(service) as client:
        assert client.health().status == "ok"
        assert client.ready().ready
        with (IMAGES / "coffee.png").open("rb") as handle:
            classified = client.classify([IMAGES / "chelsea.png", handle], top_k=2)
        assert classified.results[0].classes[0].label in CAT_LABELS
        assert {"espresso", "cup"} & {c.label for c in classified.results[1].classes}
        detected = client.detect(image_bytes("dog_bike_car.jpg"), score_threshold=0.5)
        assert {"dog", "bicycle", "car"} <= {d.label for d in detected.results[0].detections}
        names = [m.name for m in client.models().models]
        assert names == ["efficientnet-lite0", "yolox-nano", "selfie-segmentation", "person-instances"]
        assert client.model("yolox-nano").task == "detection"
        with pytest.raises(NotFoundError) as missing:
            client.classify(IMAGES / "chelsea.png", model="nope")
        assert missing.value.code == "model_not_found"
        with pytest.raises(UnprocessableError, match="task_mismatch"):
            client.detect(IMAGES / "chelsea.png", model="efficientnet-lite0")


def test_async_client_runs_requests_concurrently(service: str) -> None:
    async def run() -> list[DetectResponse]:
        async with AsyncVisionServe(service) as client:
            return await asyncio.gather(*(client.detect(IMAGES / "dog_bike_car.jpg") for _ in range(6)))

    answers = asyncio.run(run())
    assert len({tuple(d.label for d in a.results[0].detections) for a in answers}) == 1
    assert len({a.request_id for a in answers}) == 6


def test_client_segments_embeds_and_scores(service: str, zoo: str) -> None:
    with VisionServe(service) as client:
        segmented = client.segment(IMAGES / "astronaut.png", classes=["person"], include_label_map=True)
        result = segmented.results[0]
        assert result.kind == "semantic"
        assert [c.label for c in result.classes] == ["person"]
        assert result.label_map_png is not None
    with VisionServe(zoo) as client:
        labels = ["hot dog, frankfurter", "tabby cat"]  # a comma inside a label stays inside it
        scored = client.zero_shot(IMAGES / "chelsea.png", labels=labels, model="clip", top_k=2)
        assert {s.label for s in scored.results[0].scores} == set(labels)
        texts = client.embed_text(["a cat"], model="clip", dtype="float16")
        images = client.embed_image(IMAGES / "chelsea.png", model="clip")
        assert texts.dim == images.dim == len(images.results[0].embedding)
        assert texts.dtype == "float16"
