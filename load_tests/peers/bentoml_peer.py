"""BentoML as usually deployed: a @bentoml.service with onnxruntime and torchvision's standard
preprocessing (as numpy), BentoML's adaptive batching (up to 8 images), a multipart upload.

    VISIONSERVE_PEER_ONNX=... VISIONSERVE_PEER_LABELS=... .venv-peer-bentoml/bin/bentoml serve \\
        bentoml_peer:Classifier --working-dir load_tests/peers --host 127.0.0.1 --port PORT

POST /classify, multipart field "images" (one file: a batch of one) -> one list of 5
{"label", "probability"} per image. One worker, one thread, as one process of LitServe or
KServe: a like-for-like comparison on a two-core machine. No access log, as VisionServe's in
deploy/serve/local.yaml.
"""

from typing import Any

import bentoml
import numpy as np
from onnx_classifier import OnnxClassifier
from PIL.Image import Image
from standard_preprocess import preprocess


@bentoml.service(workers=1, threads=1, logging={"access": {"enabled": False}})
class Classifier:
    def __init__(self) -> None:
        self.classifier = OnnxClassifier()

    # max_latency_ms bounds a request's wait before BentoML drops it (503), not the batch window,
    # which BentoML adapts to the traffic: 10 s drops nothing at 64 connections here.
    @bentoml.api(batchable=True, max_batch_size=8, max_latency_ms=10_000)
    def classify(self, images: list[Image]) -> list[list[dict[str, Any]]]:
        batch = np.stack([preprocess(image.convert("RGB")) for image in images])
        return self.classifier.predict(batch)
