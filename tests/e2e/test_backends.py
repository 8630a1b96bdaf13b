"""runtime.backend auto through the real path: the zoo's lite0-auto chose its backend at load on
a real local Ray Serve, reports how through /v1/models and the client, and classifies as the
default application's onnxruntime copy of the same weights does."""

from __future__ import annotations

import pytest

from tests.helpers import IMAGES
from visionserve_client import VisionServe

pytestmark = pytest.mark.e2e

PHOTOS = ["chelsea.png", "coffee.png", "grace_hopper.jpg", "dog_bike_car.jpg", "flower.jpg"]


def test_the_chosen_backend_and_its_evidence_are_reported(zoo: str) -> None:
    with VisionServe(zoo) as client:
        info = client.model("lite0-auto")
    assert info.ready, info.error
    choice = info.runtime
    assert choice is not None
    assert choice.chosen_by == "measurement"
    photos = [p for p in IMAGES.iterdir() if p.suffix in (".png", ".jpg")]
    assert choice.gate_inputs == 22 * len(photos)
    assert (info.backend, info.precision) == (choice.backend, choice.precision)
    tried = {(c.backend, c.precision): c for c in choice.candidates}
    assert {("onnxruntime", "fp32"), ("openvino", "fp32")} <= set(tried)
    served = tried[(choice.backend, choice.precision)]
    assert served.passed
    assert served.agreement == choice.agreement
    assert all(c.images_per_second for c in tried.values() if c.passed)
    fastest = max(c.images_per_second or 0.0 for c in tried.values() if c.passed)
    reference = tried[("onnxruntime", "fp32")].images_per_second or 0.0
    assert served.images_per_second == fastest or (
        served is tried[("onnxruntime", "fp32")] and fastest < 1.05 * reference
    )


def test_the_auto_backend_classifies_as_onnxruntime_does(service: str, zoo: str) -> None:
    with VisionServe(service) as default, VisionServe(zoo) as auto:
        paths = [IMAGES / name for name in PHOTOS]
        expected = default.classify(paths, top_k=3).results
        got = auto.classify(paths, model="lite0-auto", top_k=3).results
    for name, a, b in zip(PHOTOS, expected, got, strict=True):
        assert a.classes[0].label == b.classes[0].label, name
        assert abs(a.classes[0].score - b.classes[0].score) < 0.05, name
