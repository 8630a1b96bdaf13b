"""The classifier every peer server serves: VisionServe's ONNX export of EfficientNet-Lite0 in
onnxruntime (default session options but two intra-op threads, the machine's cores), top 5.

The graph and the labels come from the environment: VISIONSERVE_PEER_ONNX (the .onnx file) and
VISIONSERVE_PEER_LABELS (imagenet_synsets.txt: "n01440764 tench, Tinca tinca" -> "tench").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

THREADS = 2
TOP_K = 5


def read_labels(path: Path) -> list[str]:
    labels = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            names = line.strip().partition(" ")[2]
            labels.append(names.split(",")[0].strip())
    return labels


class OnnxClassifier:
    def __init__(self, model: Path | None = None, labels: Path | None = None) -> None:
        model = model or Path(os.environ["VISIONSERVE_PEER_ONNX"])
        labels = labels or Path(os.environ["VISIONSERVE_PEER_LABELS"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name  # "images": (N, 3, 224, 224) float32
        self.labels = read_labels(labels)

    def predict(self, batch: np.ndarray) -> list[list[dict[str, Any]]]:
        """(N, 3, 224, 224) float32 -> per image the top 5 as {"label", "probability"}."""
        logits = self.session.run(None, {self.input: batch})[0].astype(np.float64)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = exp / exp.sum(axis=1, keepdims=True)
        results = []
        for row in probabilities:
            top = np.argsort(-row)[:TOP_K]
            results.append([{"label": self.labels[i], "probability": round(float(row[i]), 6)} for i in top])
        return results
