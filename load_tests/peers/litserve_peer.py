"""LitServe as usually deployed: onnxruntime and torchvision's standard preprocessing (as
numpy), LitServe's own batching (up to 8 images, 10 ms), a multipart upload field "images".

Usage: python litserve_peer.py PORT (with VISIONSERVE_PEER_ONNX and VISIONSERVE_PEER_LABELS set);
POST /predict. No access log, as VisionServe's in deploy/serve/local.yaml. Runs in .venv, where
LitServe is installed for load_tests/litserve_app.py.
"""

import sys
from typing import Any

import litserve as ls
import numpy as np
from onnx_classifier import OnnxClassifier
from standard_preprocess import decode, preprocess


class ClassifierAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.classifier = OnnxClassifier()

    def decode_request(self, request):  # type: ignore[no-untyped-def]  # LitServe reads the signature
        return preprocess(decode(request["images"].file.read()))

    def predict(self, batch: Any) -> Any:  # LitServe's own batch() stacks the arrays
        return self.classifier.predict(np.stack(batch) if isinstance(batch, list) else batch)

    def encode_response(self, output: Any) -> Any:
        return {"predictions": output}


if __name__ == "__main__":
    api = ClassifierAPI(max_batch_size=8, batch_timeout=0.01)
    ls.LitServer(api, accelerator="cpu", workers_per_device=1).run(
        host="127.0.0.1", port=int(sys.argv[1]), generate_client_file=False, access_log=False
    )
