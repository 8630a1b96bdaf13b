"""Serve your own model: subclass ``VisionModel`` and name it in the config.

VisionServe decodes, batches, runs, measures and serves it like its own models; the class
only says how an image becomes the model's input and how one output becomes a typed result.

    # my_models/tinynet.py
    class TinyNet(VisionModel):
        task = "classification"
        labels = ["cat", "dog"]

        def build(self) -> torch.nn.Module:          # state-dict weights and `weights: random`
            return MyArchitecture(num_classes=2)

        def preprocess(self, image):                  # (H, W, 3) uint8 RGB, as displayed
            x = resize(image, 64, 64).astype(np.float32) / 255
            return x.transpose(2, 0, 1), None           # (C, H, W) float32, and any meta

        def postprocess(self, output, meta, size, options):  # this image's share of the output
            return self.classification(output, size)    # helpers build the typed results

    # deploy/serve/*.yaml, under models:
    - name: tinynet
      task: classification
      source:
        kind: python
        class_path: my_models.tinynet:TinyNet
        format: state_dict                            # or onnx, torchscript
        weights: {file: tinynet.pt, sha256: ...}      # or: random
      runtime: {backend: torch}                       # onnxruntime for format onnx
      preprocess: {}

The hooks run in the model's replica: ``preprocess`` in the decode pool (several threads at
once), ``postprocess`` in the inference thread.

``output`` is this image's rows of every output the model has: one array for a single output;
for a graph with several, a dict by output name in the graph's order (ONNX) or the tuple, dict
or list the module returns (torch). ``options`` (``RequestOptions``, optional: a three-argument
``postprocess`` works too) holds the request's options in effect. The service applies them to
what ``postprocess`` returns: ``top_k`` to a classification; ``score_threshold``, then
non-maximum suppression per class at ``iou_threshold``, then ``max_detections`` (best first) to
detections and instances. A decoder may use them to do less work; it need not apply them.

Explanations: occlusion and RISE (D-RISE for a box) run any model through ``preprocess``'s
input, the runner and ``postprocess``, reading scores from the typed results. A torch model
also gets the gradient and CAM methods: a classifier's or semantic segmenter's module must
return logits, (N, classes) or (N, classes, h, w), first if it returns several outputs; a
detector's class implements ``box_scores`` (and the config sets ``explain.gradients: true``).
Maps are drawn over the original image as if ``preprocess`` had resized all of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from visionserve_client.types import (
    Classification,
    ClassScore,
    Detection,
    DetectionResult,
    ImageSize,
    InstanceSegmentation,
    SemanticSegmentation,
    TaskName,
)

UserResult = Classification | DetectionResult | SemanticSegmentation | InstanceSegmentation


@dataclass(frozen=True)
class RequestOptions:
    """A request's options in effect (the request's value, else the model's config default);
    None where the model's task has no such option."""

    top_k: int | None = None
    score_threshold: float | None = None
    iou_threshold: float | None = None
    max_detections: int | None = None


class VisionModel(ABC):
    """Base class of a user-defined model. Subclasses set ``task`` and implement the hooks."""

    task: ClassVar[TaskName]
    labels: ClassVar[list[str]] = []
    """Labels in output order; the config's source.labels replaces them when given."""

    def __init__(self) -> None:
        self.class_labels: list[str] = list(self.labels)

    def build(self) -> torch.nn.Module:
        """The architecture, for state-dict weights and for ``weights: random``."""
        raise TypeError(f"{type(self).__name__} must implement build() to load state-dict or random weights")

    @abstractmethod
    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, Any]:
        """(H, W, 3) uint8 RGB -> ((C, H', W') float32 model input, meta for postprocess)."""

    @abstractmethod
    def postprocess(self, output: Any, meta: Any, size: ImageSize, options: RequestOptions) -> UserResult:
        """One image's output -> the typed result of ``task`` in original image pixels.
        ``options`` may be left out of an override's parameters."""

    def box_scores(self, output: Any, label: int, box: torch.Tensor, meta: Any) -> torch.Tensor:
        """Gradient explanations of a detector (``explain.gradients: true``): the module's raw
        output for a batch -> (N,) scores, differentiable, of how strongly each item still finds
        ``box`` ([x1, y1, x2, y2] in the original image's pixels; ``meta`` is what
        ``preprocess`` returned, to map it onto the input) of class ``label``. D-RISE's
        similarity, the best IoU + score among that class's candidates, is a good choice."""
        raise NotImplementedError(f"{type(self).__name__} does not implement box_scores")

    # Helpers that build typed results.

    def classification(self, logits: np.ndarray, size: ImageSize) -> Classification:
        """All classes by softmax probability, best first (top_k is applied by the service)."""
        values = np.asarray(logits, dtype=np.float64).reshape(-1)
        probs = np.exp(values - values.max())
        probs /= probs.sum()
        order = np.argsort(-probs, kind="stable")
        return Classification(
            image=size,
            classes=[
                ClassScore(index=int(i), label=self.class_labels[i], score=float(probs[i])) for i in order
            ],
        )

    def detections(
        self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, size: ImageSize
    ) -> DetectionResult:
        """Boxes (N, 4) [x1, y1, x2, y2] in original pixels; clipped here, sorted by score."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, size.width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, size.height)
        order = np.argsort(-np.asarray(scores), kind="stable")
        return DetectionResult(
            image=size,
            detections=[
                Detection(
                    box=(float(boxes[i, 0]), float(boxes[i, 1]), float(boxes[i, 2]), float(boxes[i, 3])),
                    label=self.class_labels[int(classes[i])],
                    class_index=int(classes[i]),
                    score=float(np.clip(scores[i], 0.0, 1.0)),
                )
                for i in order
                if boxes[i, 2] > boxes[i, 0] and boxes[i, 3] > boxes[i, 1]
            ],
        )
