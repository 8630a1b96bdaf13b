"""The real client against the real service."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from PIL import Image

from tests.helpers import CAT_LABELS, IMAGES, image_bytes
from visionserve_client import AsyncVisionServe, NotFoundError, UnprocessableError, VisionServe
from visionserve_client.types import ClassifyResponse, DetectResponse, ProgressEvent
from visionserve_client.visualize import floatmap_to_numpy, overlay_heatmap

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


def test_async_client_64_concurrent_classify_calls_match_the_sync_client(service: str) -> None:
    names = ["chelsea.png", "coffee.png", "dog_bike_car.jpg", "astronaut.png"]
    with VisionServe(service) as client:
        expected = {n: client.classify(IMAGES / n).results[0].classes for n in names}

    async def run() -> list[ClassifyResponse]:
        async with AsyncVisionServe(service) as client:
            return await asyncio.gather(*(client.classify(IMAGES / names[i % 4]) for i in range(64)))

    answers = asyncio.run(run())
    for index, answer in enumerate(answers):
        got, want = answer.results[0].classes, expected[names[index % 4]]
        assert [c.label for c in got] == [c.label for c in want]
        assert [c.score for c in got] == pytest.approx([c.score for c in want], abs=1e-5)


def test_client_explains_and_accepts_pil_and_numpy_images(service: str) -> None:
    photo = Image.open(IMAGES / "chelsea.png").convert("RGB")
    with VisionServe(service) as client:
        by_path = client.classify(IMAGES / "chelsea.png").results[0].classes[0]
        by_pil = client.classify(photo).results[0].classes[0]
        by_array = client.classify(np.asarray(photo)).results[0].classes[0]
        assert by_path.label == by_pil.label == by_array.label  # sent lossless
        explained = client.explain(photo, methods=["gradcam", "saliency"], overlay=True)
    result = explained.results[0]
    assert result.target.label == by_path.label
    assert [e.method for e in result.explanations] == ["gradcam", "saliency"]
    heat = floatmap_to_numpy(result.explanations[0].raw)
    assert heat.shape == (photo.height, photo.width)
    assert overlay_heatmap(photo, result.explanations[0]).size == photo.size


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


def test_client_hears_the_progress_of_an_occlusion(service: str) -> None:
    heard: list[ProgressEvent] = []
    with VisionServe(service) as client:
        streamed = client.explain(
            IMAGES / "chelsea.png", methods=["occlusion"], options={"stride": 16}, on_progress=heard.append
        )
        plain = client.explain(IMAGES / "chelsea.png", methods=["occlusion"], options={"stride": 16})
        with pytest.raises(UnprocessableError, match="larger than the model input"):
            client.explain(
                IMAGES / "chelsea.png", methods=["occlusion"], options={"patch": 500}, on_progress=print
            )
    assert heard[0].done == 0
    assert heard[-1].done == heard[-1].total == 169
    assert streamed.results[0].explanations[0].raw == plain.results[0].explanations[0].raw

    async def asynchronously() -> int:
        events: list[ProgressEvent] = []
        async with AsyncVisionServe(service) as client:
            await client.explain(
                IMAGES / "chelsea.png",
                methods=["saliency", "occlusion"],
                options={"stride": 32},
                on_progress=events.append,
            )
        return len({e.stage for e in events})

    assert asyncio.run(asynchronously()) == 2
