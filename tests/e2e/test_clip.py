"""CLIP through real HTTP (random weights: the numbers are checked against each other)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np
import pytest

from tests.helpers import image_bytes
from visionserve_client.types import EmbedImageResponse, EmbedTextResponse, ZeroShotResponse

pytestmark = pytest.mark.e2e
LABELS = ["cat", "dog", "bird", "car"]
NAMES = ["chelsea.png", "coffee.png", "dog_bike_car.jpg"]


def _b64(name: str) -> str:
    return base64.b64encode(image_bytes(name)).decode()


def _json(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(url, json=body, timeout=120)


def _image_embeddings(zoo: str, model: str, names: list[str]) -> np.ndarray:
    response = _json(f"{zoo}/v1/embed/image", {"model": model, "images": [_b64(n) for n in names]})
    assert response.status_code == 200, response.text
    body = EmbedImageResponse.model_validate_json(response.content)
    return np.array([r.embedding for r in body.results])


def _text_embeddings(zoo: str, model: str, texts: list[str]) -> np.ndarray:
    response = _json(f"{zoo}/v1/embed/text", {"model": model, "texts": texts})
    assert response.status_code == 200, response.text
    return np.array([r.embedding for r in EmbedTextResponse.model_validate_json(response.content).results])


def test_embeddings_are_unit_norm_and_of_equal_dimension(zoo: str) -> None:
    response = _json(f"{zoo}/v1/embed/image", {"model": "clip", "images": [_b64("chelsea.png")]})
    body = EmbedImageResponse.model_validate_json(response.content)
    assert (body.dtype, body.model) == ("float32", "clip")
    image = np.array(body.results[0].embedding)
    assert len(image) == body.dim
    assert np.linalg.norm(image) == pytest.approx(1.0, abs=1e-5)
    texts = _json(f"{zoo}/v1/embed/text", {"model": "clip", "texts": ["a cat", "a photo of a dog."]})
    text_body = EmbedTextResponse.model_validate_json(texts.content)
    assert text_body.dim == body.dim
    assert [r.tokens for r in text_body.results] == [4, 8]
    for result in text_body.results:
        assert np.linalg.norm(result.embedding) == pytest.approx(1.0, abs=1e-5)


def test_float16_on_request(zoo: str) -> None:
    response = _json(
        f"{zoo}/v1/embed/image", {"model": "clip", "images": [_b64("chelsea.png")], "dtype": "float16"}
    )
    body = EmbedImageResponse.model_validate_json(response.content)
    assert body.dtype == "float16"
    values = np.array(body.results[0].embedding)
    assert np.array_equal(values.astype(np.float16).astype(np.float64), values)
    full = _image_embeddings(zoo, "clip", ["chelsea.png"])[0]
    assert np.abs(values - full).max() < 1e-3


def test_a_batch_equals_one_by_one(zoo: str) -> None:
    together = _image_embeddings(zoo, "clip", NAMES)
    alone = np.array([_image_embeddings(zoo, "clip", [n])[0] for n in NAMES])
    assert np.abs(together - alone).max() < 1e-5
    texts = _text_embeddings(zoo, "clip", ["a cat", "a dog", "a car"])
    single = np.array([_text_embeddings(zoo, "clip", [t])[0] for t in ["a cat", "a dog", "a car"]])
    assert np.abs(texts - single).max() < 1e-5


def test_zero_shot_softmax_equals_scaled_cosine_from_the_embedding_endpoints(zoo: str) -> None:
    body = {"model": "clip", "images": [_b64(n) for n in NAMES], "labels": LABELS, "top_k": 4}
    response = _json(f"{zoo}/v1/zero-shot", body)
    assert response.status_code == 200, response.text
    answer = ZeroShotResponse.model_validate_json(response.content)
    assert answer.scoring == "softmax"
    assert answer.logit_bias is None
    images = _image_embeddings(zoo, "clip", NAMES)
    texts = _text_embeddings(zoo, "clip", [f"a photo of a {label}." for label in LABELS])
    for image, result in zip(images, answer.results, strict=True):
        cosine = texts @ image
        logits = answer.logit_scale * cosine
        expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        got = {s.label: s for s in result.scores}
        assert sum(s.score for s in result.scores) == pytest.approx(1.0, abs=1e-6)
        for label, score, cos in zip(LABELS, expected, cosine, strict=True):
            assert got[label].score == pytest.approx(score, abs=1e-5)
            assert got[label].similarity == pytest.approx(cos, abs=1e-5)
        assert [s.score for s in result.scores] == sorted((s.score for s in result.scores), reverse=True)


def test_sigmoid_scoring_is_independent_per_label(zoo: str) -> None:
    body = {"model": "siglip-style", "images": [_b64("chelsea.png")], "labels": LABELS, "top_k": 4}
    answer = ZeroShotResponse.model_validate_json(_json(f"{zoo}/v1/zero-shot", body).content)
    assert answer.scoring == "sigmoid"
    assert answer.logit_bias == pytest.approx(-10.0)
    image = _image_embeddings(zoo, "siglip-style", ["chelsea.png"])[0]
    texts = _text_embeddings(zoo, "siglip-style", [f"a photo of a {label}." for label in LABELS])
    expected = 1 / (1 + np.exp(-(answer.logit_scale * (texts @ image) + answer.logit_bias)))
    got = {s.label: s.score for s in answer.results[0].scores}
    for label, score in zip(LABELS, expected, strict=True):
        assert got[label] == pytest.approx(score, rel=1e-4, abs=1e-9)
    alone = _json(f"{zoo}/v1/zero-shot", {**body, "labels": ["cat"], "top_k": 1})
    assert alone.json()["results"][0]["scores"][0]["score"] == pytest.approx(got["cat"], rel=1e-4, abs=1e-9)


def test_prompt_ensembles_average_the_templates(zoo: str) -> None:
    templates = ["a photo of a {}.", "a drawing of a {}."]
    body = {
        "model": "clip",
        "images": [_b64("chelsea.png")],
        "labels": ["cat", "dog"],
        "templates": templates,
    }
    answer = ZeroShotResponse.model_validate_json(_json(f"{zoo}/v1/zero-shot", body).content)
    image = _image_embeddings(zoo, "clip", ["chelsea.png"])[0]
    cat = _text_embeddings(zoo, "clip", [t.format("cat") for t in templates]).mean(axis=0)
    cat /= np.linalg.norm(cat)
    got = {s.label: s.similarity for s in answer.results[0].scores}
    assert got["cat"] == pytest.approx(float(cat @ image), abs=1e-5)


def test_label_sets_and_multipart(zoo: str) -> None:
    named = _json(
        f"{zoo}/v1/zero-shot", {"model": "clip", "images": [_b64("chelsea.png")], "label_set": "animals"}
    )
    assert named.status_code == 200, named.text
    assert {s["label"] for s in named.json()["results"][0]["scores"]} <= {"cat", "dog", "bird", "horse"}
    files = [("images", ("c.png", image_bytes("chelsea.png")))]
    form = httpx.post(
        f"{zoo}/v1/zero-shot",
        files=files,
        data={"model": "clip", "labels": ["cat", "dog"], "top_k": "2"},
        timeout=60,
    )
    assert form.status_code == 200, form.text
    assert {s["label"] for s in form.json()["results"][0]["scores"]} == {"cat", "dog"}


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "words"),
    [
        ("/v1/zero-shot", {"label_set": "planets"}, 422, "invalid_parameter", "unknown label set 'planets'"),
        ("/v1/zero-shot", {"labels": []}, 422, "invalid_parameter", "at least one label"),
        ("/v1/zero-shot", {"labels": [f"l{i}" for i in range(10000)]}, 422, "invalid_parameter", "labels"),
        ("/v1/zero-shot", {}, 422, "invalid_parameter", "either labels or label_set"),
        ("/v1/zero-shot", {"labels": ["cat", "cat"]}, 422, "invalid_parameter", "repeated"),
        ("/v1/zero-shot", {"labels": ["cat", " "]}, 422, "invalid_parameter", "label 1 is empty"),
        ("/v1/zero-shot", {"labels": ["cat"], "templates": ["no slot"]}, 422, "invalid_parameter", "'{}'"),
        ("/v1/zero-shot", {"labels": ["cat"], "top_k": 2}, 422, "invalid_parameter", "top_k"),
        (
            "/v1/zero-shot",
            {"labels": ["word " * 100]},
            422,
            "invalid_parameter",
            "over the model's limit of 77",
        ),
        ("/v1/embed/text", {"texts": [""]}, 422, "invalid_parameter", "text 0 is empty"),
        (
            "/v1/embed/text",
            {"texts": ["ok", "word " * 100]},
            422,
            "invalid_parameter",
            "text 1 is 102 tokens",
        ),
        ("/v1/embed/text", {"texts": []}, 422, "invalid_parameter", "texts"),
        ("/v1/embed/text", {"texts": ["a"] * 300}, 413, "too_many_texts", "limit of 256"),
        ("/v1/embed/text", {"texts": ["a"], "model": "faster-rcnn"}, 422, "task_mismatch", "/v1/detect"),
        ("/v1/embed/image", {"dtype": "float64"}, 422, "invalid_parameter", "dtype"),
    ],
)
def test_clip_bad_input(
    zoo: str, path: str, body: dict[str, Any], status: int, code: str, words: str
) -> None:
    full = {"model": "clip", **body}
    if path != "/v1/embed/text":
        full["images"] = [_b64("chelsea.png")]
    response = _json(f"{zoo}{path}", full)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert words in response.json()["error"]["message"]
