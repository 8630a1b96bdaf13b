"""/v1/understand/...: what a model has learned, through real HTTP on the explanation deployment."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image, ImageOps

from tests.helpers import IMAGES, image_bytes
from visionserve_client.types import (
    ClassModelResponse,
    DeepDreamResponse,
    FeatureMapResponse,
    FiltersResponse,
    InversionResponse,
    NeighboursResponse,
    ReferenceSetInfo,
    RolloutResponse,
    TopPatchesResponse,
)

pytestmark = pytest.mark.e2e

PHOTOS = sorted(p for p in IMAGES.iterdir() if p.suffix in (".png", ".jpg"))


def _png(data: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data)))


def _array(value: Any) -> np.ndarray:
    return np.frombuffer(base64.b64decode(value.data), dtype="<f4").reshape(value.shape)


def _encoded(image: Image.Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo_set(service: str) -> ReferenceSetInfo:
    """Every sample photo, a mirrored copy of it, and a copy at 60% size (JPEG)."""
    files = []
    for path in PHOTOS:
        image = Image.open(path).convert("RGB")
        files.append(("images", (f"{path.stem}.png", _encoded(image, "PNG"))))
        files.append(("images", (f"{path.stem}-flipped.png", _encoded(ImageOps.mirror(image), "PNG"))))
        small = image.resize((int(image.width * 0.6), int(image.height * 0.6)))
        files.append(("images", (f"{path.stem}-small.jpg", _encoded(small, "JPEG"))))
    answer = httpx.post(
        f"{service}/v1/understand/reference-sets", files=files, data={"name": "photos"}, timeout=120
    )
    assert answer.status_code == 201, answer.text
    return ReferenceSetInfo.model_validate_json(answer.content)


def test_first_layer_filters_are_the_weights(service: str, settings: Any) -> None:
    answer = httpx.get(f"{service}/v1/understand/filters", params={"model": "efficientnet-lite0"}, timeout=60)
    assert answer.status_code == 200, answer.text
    body = FiltersResponse.model_validate_json(answer.content)
    assert body.layer == "_conv_stem"
    weights = _array(body.weights)
    assert weights.shape == (32, 3, 3, 3)
    # The same weights file, loaded here: the values are the model's own.
    from visionserve.config import load_serve_file, parse_service_config
    from visionserve.engine import ModelEngine

    config = parse_service_config(load_serve_file(Path("deploy/serve/local.yaml")).args)
    classifier = config.models[0]
    torch_copy = classifier.model_copy(
        update={"runtime": classifier.runtime.model_copy(update={"backend": "torch"})}
    )
    engine = ModelEngine(torch_copy, model_dirs=list(settings.model_dirs), cache_dir=settings.cache_dir)
    assert body.model_version == engine.version
    expected = engine.runner.module._conv_stem.weight.detach().numpy()  # type: ignore[attr-defined]
    assert np.array_equal(weights, expected)
    grid = _png(body.grid_png)
    assert grid.size == (6 * 25 + 1, 6 * 25 + 1)  # 6 x 6 tiles of 3x3 weights, 8 px each, 1 px gaps


def test_each_photo_s_nearest_neighbour_is_its_own_copy(service: str, photo_set: ReferenceSetInfo) -> None:
    assert photo_set.count == 3 * len(PHOTOS)
    listed = httpx.get(f"{service}/v1/understand/reference-sets", timeout=30).json()["reference_sets"]
    assert photo_set.id in [s["id"] for s in listed]
    for item in photo_set.items:
        answer = httpx.post(
            f"{service}/v1/understand/neighbours",
            json={"reference_set": photo_set.id, "item": item.index, "k": 2},
            timeout=120,
        )
        assert answer.status_code == 200, answer.text
        body = NeighboursResponse.model_validate_json(answer.content)
        assert (body.search, body.metric, body.layer, body.dim) == (
            "exact",
            "cosine",
            "_avg_pooling.input",
            1280,
        )
        nearest = body.results[0].neighbours[0]
        assert nearest.index != item.index
        photo = item.name.split("-")[0].split(".")[0]
        assert nearest.name.split("-")[0].split(".")[0] == photo, (item.name, nearest.name)
    # A query image from outside the set: its own copies come first.
    cat = [("images", ("query.png", image_bytes("chelsea.png")))]
    data = {"reference_set": photo_set.id, "k": "3", "metric": "l2"}
    answer = httpx.post(f"{service}/v1/understand/neighbours", files=cat, data=data, timeout=120)
    assert answer.status_code == 200, answer.text
    names = [n.name for n in NeighboursResponse.model_validate_json(answer.content).results[0].neighbours]
    assert all(name.startswith("chelsea") for name in names), names


def test_a_map_of_the_set_by_pca_and_tsne(service: str, photo_set: ReferenceSetInfo) -> None:
    for method in ("pca", "tsne"):
        answer = httpx.post(
            f"{service}/v1/understand/map",
            json={"reference_set": photo_set.id, "method": method, "seed": 0},
            timeout=180,
        )
        assert answer.status_code == 200, answer.text
        body = FeatureMapResponse.model_validate_json(answer.content)
        assert [p.index for p in body.points] == list(range(photo_set.count))
        assert len({(round(p.x, 3), round(p.y, 3)) for p in body.points}) > photo_set.count // 2
        assert _png(body.scatter_png).size == (900, 900)


def test_top_patches_of_a_channel_with_their_receptive_fields(
    service: str, photo_set: ReferenceSetInfo
) -> None:
    request = {"reference_set": photo_set.id, "layer": "_blocks.3", "channel": 5, "k": 4}
    answer = httpx.post(f"{service}/v1/understand/top-patches", json=request, timeout=180)
    assert answer.status_code == 200, answer.text
    body = TopPatchesResponse.model_validate_json(answer.content)
    assert body.channels == 40
    assert len(body.patches) == 4
    activations = [p.activation for p in body.patches]
    assert activations == sorted(activations, reverse=True)
    sizes = {item.index: (item.width, item.height) for item in photo_set.items}
    for patch in body.patches:
        x1, y1, x2, y2 = patch.box
        width, height = sizes[patch.index]
        assert 0 <= x1 < x2 <= width
        assert 0 <= y1 < y2 <= height
        assert (x2 - x1) < width  # a unit of an early layer sees part of the image, not all of it
        assert _png(patch.patch_png).size == (round(x2 - x1), round(y2 - y1))


def test_class_model_of_tabby_is_a_tabby_and_deterministic(service: str) -> None:
    request = {"model": "efficientnet-lite0", "target_label": "tabby", "seed": 3}
    first = httpx.post(f"{service}/v1/understand/class-model", json=request, timeout=300)
    assert first.status_code == 200, first.text
    body = ClassModelResponse.model_validate_json(first.content)
    assert (body.target.index, body.target.label) == (281, "tabby")
    assert body.probability > 0.9
    assert body.params["steps"] == 200  # the default
    image = _png(body.image_png)
    assert image.size == (224, 224)
    assert np.asarray(image).std() > 10  # not the grey it started from
    again = httpx.post(f"{service}/v1/understand/class-model", json=request, timeout=300).json()
    assert again["image_png"] == body.image_png
    assert again["probability"] == body.probability


def test_class_model_streams_its_steps_and_stops_when_closed(service: str) -> None:
    request = {"target_class": 281, "steps": 30}
    with httpx.stream("POST", f"{service}/v1/understand/class-model/stream", json=request, timeout=300) as r:
        assert r.status_code == 200
        events = [json.loads(line) for line in r.iter_lines() if line]
    *progress, last = events
    assert last["event"] == "result"
    assert last["response"]["target"]["index"] == 281
    assert progress[0]["done"] == 0
    assert progress[-1]["done"] == progress[-1]["total"] == 30
    # A long one abandoned after its first steps frees the explainer at once.
    slow = {"target_class": 281, "steps": 1000}
    with httpx.stream("POST", f"{service}/v1/understand/class-model/stream", json=slow, timeout=300) as r:
        for line in r.iter_lines():
            event = json.loads(line)
            if event["done"] >= 2:
                break
    started = time.monotonic()
    quick = httpx.post(
        f"{service}/v1/understand/class-model", json={"target_class": 1, "steps": 2}, timeout=300
    )
    assert quick.status_code == 200, quick.text
    assert time.monotonic() - started < 20  # the abandoned 1000 steps would take about half a minute


def test_feature_inversion_rebuilds_from_early_layers_better_than_late(service: str) -> None:
    files = [("images", ("cat.png", image_bytes("chelsea.png")))]
    scores = {}
    for layer in ("_blocks.1", "_blocks.15"):
        answer = httpx.post(
            f"{service}/v1/understand/inversion", files=files, data={"layer": layer}, timeout=300
        )
        assert answer.status_code == 200, answer.text
        body = InversionResponse.model_validate_json(answer.content)
        assert _png(body.image_png).size == (224, 224)
        scores[layer] = body.ssim
    assert scores["_blocks.1"] >= 0.5
    assert scores["_blocks.15"] < scores["_blocks.1"] - 0.2


def test_deepdream_changes_the_image_and_raises_the_layer_s_activations(service: str) -> None:
    files = [("images", ("cat.png", image_bytes("chelsea.png")))]
    answer = httpx.post(
        f"{service}/v1/understand/deepdream", files=files, data={"layer": "_blocks.10"}, timeout=300
    )
    assert answer.status_code == 200, answer.text
    body = DeepDreamResponse.model_validate_json(answer.content)
    assert body.activation_norm_after > 1.2 * body.activation_norm_before
    before = np.asarray(_png(body.input_png), dtype=float)
    after = np.asarray(_png(body.image_png), dtype=float)
    assert np.abs(after - before).mean() > 5


def test_attention_rollout_of_a_vision_transformer(zoo: str) -> None:
    files = [("images", ("cat.png", image_bytes("chelsea.png")))]
    answer = httpx.post(
        f"{zoo}/v1/understand/attention-rollout", files=files, data={"model": "clip"}, timeout=120
    )
    assert answer.status_code == 200, answer.text
    body = RolloutResponse.model_validate_json(answer.content)
    grid = _array(body.grid)
    assert grid.shape == (7, 7)  # ViT-S/32 at 224: 7 x 7 patches
    assert (grid >= 0).all()
    assert 0 < grid.sum() <= 1.0 + 1e-5  # a share of the class token's attention
    assert _array(body.map).shape == (300, 451)
    not_a_transformer = httpx.post(
        f"{zoo}/v1/understand/attention-rollout", files=files, data={"model": "tinynet"}, timeout=120
    )
    assert not_a_transformer.status_code == 422
    assert "no attention" in not_a_transformer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/v1/understand/class-model", {"target_label": "unicorn"}, 422, "unknown target_label"),
        ("/v1/understand/class-model", {"target_class": 1000}, 422, "out of range"),
        ("/v1/understand/class-model", {}, 422, "target_class or target_label"),
        ("/v1/understand/class-model", {"target_class": 1, "steps": 5000}, 422, "understand.max_steps"),
        ("/v1/understand/class-model", {"target_class": 1, "learning_rate": -1}, 422, "learning_rate"),
        ("/v1/understand/class-model", {"target_class": 1, "model": "yolox-nano"}, 422, "torch model"),
        ("/v1/understand/class-model", {"target_class": 1, "model": "nope"}, 404, "unknown model"),
        ("/v1/understand/map", {"reference_set": "0" * 32}, 404, "no reference set"),
        ("/v1/understand/map", {"reference_set": "../../etc"}, 404, "no reference set"),
        ("/v1/understand/map", {"reference_set": "x", "method": "umap"}, 422, "method"),
        ("/v1/understand/top-patches", {"reference_set": "x", "channel": -1}, 422, "channel"),
    ],
)
def test_bad_view_parameters(service: str, path: str, body: dict[str, Any], status: int, words: str) -> None:
    answer = httpx.post(f"{service}{path}", json=body, timeout=60)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]


def test_bad_parameters_that_need_a_set(service: str, photo_set: ReferenceSetInfo) -> None:
    def post(path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{service}{path}", json={"reference_set": photo_set.id, **body}, timeout=60)

    cases = [
        (post("/v1/understand/top-patches", {"channel": 4000, "layer": "_blocks.3"}), "out of range"),
        (post("/v1/understand/top-patches", {"channel": 1, "layer": "_nope"}), "no layer '_nope'"),
        (post("/v1/understand/neighbours", {"item": 999}), "out of range"),
        (post("/v1/understand/neighbours", {}), "give one query"),
        (post("/v1/understand/neighbours", {"item": 0, "k": 100_000}), "over the limit"),
    ]
    for answer, words in cases:
        assert answer.status_code == 422, answer.text
        assert words in answer.json()["error"]["message"]


def test_reference_set_uploads_are_checked(service: str, tmp_path: Path) -> None:
    files = [
        ("images", ("cat.png", image_bytes("chelsea.png"))),
        ("images", ("notes.txt", b"not an image")),
    ]
    bad = httpx.post(f"{service}/v1/understand/reference-sets", files=files, data={"name": "x"}, timeout=60)
    assert bad.status_code == 400
    assert "image 1 ('notes.txt')" in bad.json()["error"]["message"]
    unnamed = httpx.post(f"{service}/v1/understand/reference-sets", files=files[:1], timeout=60)
    assert unnamed.status_code == 422
    outside = httpx.post(
        f"{service}/v1/understand/reference-sets", json={"name": "x", "folder": str(tmp_path)}, timeout=60
    )
    assert outside.status_code == 403
    assert "understand.folder_roots" in outside.json()["error"]["message"]
    made = httpx.post(
        f"{service}/v1/understand/reference-sets", files=files[:1], data={"name": "one"}, timeout=60
    ).json()
    assert httpx.get(f"{service}/v1/understand/reference-sets/{made['id']}", timeout=30).json()["count"] == 1
    assert httpx.delete(f"{service}/v1/understand/reference-sets/{made['id']}", timeout=30).status_code == 204
    gone = httpx.get(f"{service}/v1/understand/reference-sets/{made['id']}", timeout=30)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "reference_set_not_found"


def test_the_client_covers_the_views(service: str) -> None:
    from visionserve_client import AsyncVisionServe, NotFoundError, VisionServe
    from visionserve_client.types import ProgressEvent

    heard: list[ProgressEvent] = []
    with VisionServe(service) as client:
        assert client.understand_filters().layer == "_conv_stem"
        made = client.create_reference_set(
            "client", [IMAGES / "chelsea.png", IMAGES / "coffee.png", IMAGES / "rocket.jpg"]
        )
        assert [i.name for i in made.items] == ["chelsea.png", "coffee.png", "rocket.jpg"]
        assert made.id in [s.id for s in client.reference_sets().reference_sets]
        near = client.neighbours(made.id, IMAGES / "chelsea.png", k=1)
        assert near.results[0].neighbours[0].name == "chelsea.png"
        assert near.results[0].neighbours[0].distance == pytest.approx(0.0, abs=1e-4)
        assert len(client.feature_map(made.id, method="pca").points) == 3
        assert len(client.top_patches(made.id, 0, layer="_blocks.2", k=2).patches) == 2
        drawn = client.class_model(target_label="tabby", options={"steps": 20}, on_progress=heard.append)
        assert drawn.target.index == 281
        assert (
            client.invert(IMAGES / "chelsea.png", layer="_blocks.1", options={"steps": 10}).layer
            == "_blocks.1"
        )
        client.delete_reference_set(made.id)
        with pytest.raises(NotFoundError):
            client.reference_set(made.id)
    assert heard[-1].done == heard[-1].total == 20

    async def dream() -> DeepDreamResponse:
        async with AsyncVisionServe(service) as client:
            return await client.deepdream(
                IMAGES / "chelsea.png",
                layer="_blocks.6",
                options={"steps": 3, "octaves": 2},
                on_progress=heard.append,
            )

    dreamed = asyncio.run(dream())
    assert dreamed.params["octaves"] == 2
    assert heard[-1].stage == "deepdream"
    assert heard[-1].done == 6
