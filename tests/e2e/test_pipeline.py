"""The person-instance pipeline of the default config, through real HTTP."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from tests.helpers import image_bytes
from visionserve.tasks.masks import decode_rle
from visionserve_client.types import SegmentResponse

pytestmark = pytest.mark.e2e


def _segment(service: str, names: list[str], **fields: str) -> httpx.Response:
    files = [("images", (n, image_bytes(n))) for n in names]
    data = {"model": "person-instances", **fields}
    return httpx.post(f"{service}/v1/segment", files=files, data=data, timeout=120)


def test_one_person_on_the_astronaut_none_on_the_street(service: str) -> None:
    response = _segment(service, ["astronaut.png", "dog_bike_car.jpg"])
    assert response.status_code == 200, response.text
    body = SegmentResponse.model_validate_json(response.content)
    assert len(body.model_version) == 64
    astronaut, street = body.results
    assert astronaut.kind == "instance"
    assert street.kind == "instance"
    assert len(astronaut.instances) == 1
    person = astronaut.instances[0]
    assert person.label == "person"
    assert person.mask is not None
    mask = decode_rle(person.mask)
    assert mask.shape == (512, 512)
    x1, y1, x2, y2 = person.box
    inside = np.zeros_like(mask)
    inside[int(np.floor(y1)) : int(np.ceil(y2)), int(np.floor(x1)) : int(np.ceil(x2))] = True
    assert not (mask & ~inside).any()  # the mask stays inside its box
    assert mask.sum() >= 0.4 * (x2 - x1) * (y2 - y1)
    assert street.instances == []


def test_pipeline_is_listed_and_ready(service: str) -> None:
    info = httpx.get(f"{service}/v1/models/person-instances", timeout=30).json()
    assert info["task"] == "instance_segmentation"
    assert info["backend"] == "pipeline"
    assert info["ready"] is True
    answer = _segment(service, ["astronaut.png"]).json()
    assert answer["model_version"] == info["model_version"]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"classes": "dog"}, "unknown class 'dog'"),
        ({"include_label_map": "true"}, "do not apply to pipeline"),
        ({"score_threshold": "3"}, "score_threshold"),
    ],
)
def test_pipeline_bad_input(service: str, fields: dict[str, str], words: str) -> None:
    response = _segment(service, ["astronaut.png"], **fields)
    assert response.status_code == 422, response.text
    assert words in response.json()["error"]["message"]
