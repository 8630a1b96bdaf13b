"""KServe's Python model server (kserve.Model in kserve.ModelServer): onnxruntime and
torchvision's standard preprocessing (as numpy), the V1 protocol.

Usage: .venv-peer-kserve/bin/python kserve_peer.py PORT (with VISIONSERVE_PEER_ONNX and
VISIONSERVE_PEER_LABELS set). POST /v1/models/efficientnet-lite0:predict with
{"instances": [{"image": {"b64": "<JPEG>"}}]} -> {"predictions": [[{"label", "probability"}] x 5]}.
KServe's server has no batching of its own (batches come from its agent, in Kubernetes): each
request runs alone, as a KServe predictor does behind one replica. Its per-request logs (access,
latency, timings) are off, as VisionServe's access log is in deploy/serve/local.yaml; no gRPC.
"""

import base64
import logging
import sys
from typing import Any

import numpy as np
from kserve import Model, ModelServer
from onnx_classifier import OnnxClassifier
from standard_preprocess import decode, preprocess

NAME = "efficientnet-lite0"


class Classifier(Model):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.load()

    def load(self) -> bool:
        self.classifier = OnnxClassifier()
        self.ready = True
        return self.ready

    def preprocess(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> np.ndarray:
        images = [decode(base64.b64decode(i["image"]["b64"])) for i in payload["instances"]]
        return np.stack([preprocess(image) for image in images])

    def predict(self, payload: np.ndarray, headers: dict[str, str] | None = None) -> dict[str, Any]:
        return {"predictions": self.classifier.predict(payload)}


if __name__ == "__main__":
    server = ModelServer(http_port=int(sys.argv[1]), enable_grpc=False, enable_latency_logging=False)
    for log in ("uvicorn.access", "kserve.trace"):  # a line per request: access, and timings
        logging.getLogger(log).disabled = True
    server.start([Classifier(NAME)])
