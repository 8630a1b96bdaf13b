"""Explaining any model through its typed results: occlusion, RISE and D-RISE need only scores.

A model whose raw output the service cannot read (a user's model with its own decoding, ONNX
or torch; an instance segmenter) is still run the way it serves: perturbed inputs go through
its runner and its postprocess, and a target reads the score it explains from the typed
results. Boxes are in the original image's pixels here, as the results give them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel

from visionserve.engine import ModelEngine
from visionserve.errors import Unprocessable
from visionserve.explain.options import ExplainParams, class_index
from visionserve.explain.targets import (
    ClassLogit,
    OnFirstTensor,
    SegmentationClass,
    UserBoxScore,
    first_tensor,
)
from visionserve.tasks import Prepared
from visionserve_client.types import (
    Classification,
    DetectionResult,
    ExplainTarget,
    InstanceSegmentation,
    SemanticSegmentation,
)

CANDIDATE_SCORE = 0.01
"""D-RISE compares the target box with every candidate the detector proposes on a masked
image, weak ones included: a low threshold keeps them (NMS and max_detections still apply)."""


class TypedForward:
    """The model's whole serving path over a float batch of inputs: one typed result each."""

    def __init__(self, engine: ModelEngine, item: Prepared) -> None:
        self.engine = engine
        self.item = item
        raw: dict[str, Any] = {}
        if engine.cfg.task in ("detection", "instance_segmentation"):
            raw["score_threshold"] = CANDIDATE_SCORE
        elif engine.cfg.task == "classification":
            raw["top_k"] = len(engine.labels)  # every class's score, the explained one included
        self.params = engine.parse_params(raw)

    def __call__(self, x: torch.Tensor) -> list[BaseModel]:
        batch = x.detach().cpu().numpy()
        items = [replace(self.item, tensor=np.ascontiguousarray(batch[i])) for i in range(len(batch))]
        return self.engine.infer(items, [self.params] * len(items))


@dataclass(frozen=True)
class ResultClassScore:
    """A class's probability in each classification (0 where the class is not listed)."""

    index: int
    kind: str = "class"

    def __call__(self, output: Sequence[BaseModel]) -> torch.Tensor:
        scores = []
        for result in output:
            assert isinstance(result, Classification)
            scores.append(next((c.score for c in result.classes if c.index == self.index), 0.0))
        return torch.tensor(scores, dtype=torch.float32)


@dataclass(frozen=True)
class ResultSegmentScore:
    """A class's probability summed over the image, as a share of its pixels (pixel share times
    the class's mean probability): 0 where the class is gone."""

    index: int
    kind: str = "segmentation_class"

    def __call__(self, output: Sequence[BaseModel]) -> torch.Tensor:
        scores = []
        for result in output:
            assert isinstance(result, SemanticSegmentation)
            found = next((c for c in result.classes if c.index == self.index), None)
            scores.append(0.0 if found is None else found.pixel_share * found.score)
        return torch.tensor(scores, dtype=torch.float32)


def _iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    left_top = np.maximum(boxes[:, :2], box[:2])
    right_bottom = np.minimum(boxes[:, 2:], box[2:])
    overlap = np.clip(right_bottom - left_top, 0, None).prod(axis=1)
    areas = (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
    union = areas + (box[2:] - box[:2]).prod() - overlap
    return np.where(union > 0, overlap / np.maximum(union, 1e-12), 0.0)


@dataclass(frozen=True)
class ResultBoxScore:
    """D-RISE's similarity on typed results: the best IoU + score among the detections (or
    instances) of the box's class that overlap it by more than ``iou_threshold``; 0 if none."""

    label: int
    box: tuple[float, float, float, float]
    iou_threshold: float = 0.5
    kind: str = "box"

    def __call__(self, output: Sequence[BaseModel]) -> torch.Tensor:
        target = np.asarray(self.box, dtype=np.float64)
        scores = []
        for result in output:
            assert isinstance(result, (DetectionResult, InstanceSegmentation))
            found = result.detections if isinstance(result, DetectionResult) else result.instances
            same = [d for d in found if d.class_index == self.label]
            if not same:
                scores.append(0.0)
                continue
            overlap = _iou(np.asarray([d.box for d in same], dtype=np.float64), target)
            candidates = [o + d.score for o, d in zip(overlap, same, strict=True) if o > self.iou_threshold]
            scores.append(float(max(candidates, default=0.0)))
        return torch.tensor(scores, dtype=torch.float32)


@dataclass(frozen=True)
class EitherOutput:
    """One target for both kinds of pass a request may make on a user's torch model: gradient
    methods run the module (a tensor score), perturbation methods its serving path (typed)."""

    on_tensor: Any
    on_results: Any

    @property
    def kind(self) -> str:
        return str(self.on_results.kind)

    @property
    def index(self) -> int | None:
        return getattr(self.on_tensor, "index", None)

    def __call__(self, output: Any) -> torch.Tensor:
        if isinstance(output, list) and output and isinstance(output[0], BaseModel):
            scores: torch.Tensor = self.on_results(output)
        else:
            scores = self.on_tensor(output)
        return scores


def result_target(
    engine: ModelEngine,
    forward: TypedForward,
    x: torch.Tensor,
    params: ExplainParams,
    module: torch.nn.Module | None,
) -> tuple[Any, ExplainTarget]:
    """The request's target on the typed results of the unperturbed input ``x`` and, where
    ``module`` is given (a user's torch model with gradient methods), on its raw output too."""
    task, labels = engine.cfg.task, engine.labels
    if task in ("detection", "instance_segmentation"):
        return _box_target(engine, forward, x, params, module)
    result = forward(x)[0]
    named = class_index(params.target_label, params.target_class, labels)
    on_results: Any
    kind: Literal["class", "segmentation_class"]
    if isinstance(result, Classification):
        index = named if named is not None else (result.classes[0].index if result.classes else 0)
        on_results, kind = ResultClassScore(index), "class"
        on_tensor = OnFirstTensor(ClassLogit(index)) if module is not None else None
    else:
        assert isinstance(result, SemanticSegmentation)
        present = [c.index for c in result.classes]
        # The largest class that is not the background (index 0), as for built-in segmenters.
        index = (
            named if named is not None else next((i for i in present if i != 0), present[0] if present else 0)
        )
        if index not in present:
            raise Unprocessable(f"class {labels[index]!r} covers no pixel of this image: nothing to explain")
        on_results, kind = ResultSegmentScore(index), "segmentation_class"
        on_tensor = None
        if module is not None:
            with torch.no_grad():
                logits = first_tensor(module(x))
            on_tensor = OnFirstTensor(SegmentationClass(index, (logits[0].argmax(dim=0) == index).float()))
    described = ExplainTarget(
        kind=kind, index=index, label=labels[index], score=float(on_results([result])[0])
    )
    return (on_results if on_tensor is None else EitherOutput(on_tensor, on_results)), described


def _box_target(
    engine: ModelEngine,
    forward: TypedForward,
    x: torch.Tensor,
    params: ExplainParams,
    module: torch.nn.Module | None,
) -> tuple[Any, ExplainTarget]:
    """A box given (target_box with target_label, original pixels) or the target_box_index-th
    of what the model finds with the model's default options, as /v1/detect answers."""
    labels = engine.labels
    index: int | None = None
    if params.target_box is not None:
        if params.target_label is None or params.target_label not in labels:
            raise Unprocessable("target_box needs target_label, one of the model's labels")
        box, label = params.target_box, labels.index(params.target_label)
    else:
        served = engine.infer([forward.item], [engine.parse_params({})])[0]
        found = served.detections if isinstance(served, DetectionResult) else served.instances  # type: ignore[attr-defined]
        index = params.target_box_index or 0
        if index >= len(found):
            raise Unprocessable(
                f"target_box_index {index} is out of range: the model found {len(found)} boxes"
            )
        box, label = found[index].box, found[index].class_index
    on_results = ResultBoxScore(label, box)
    score = float(on_results(forward(x))[0])
    described = ExplainTarget(kind="box", index=index, label=labels[label], box=box, score=score)
    if module is None:
        return on_results, described
    user = engine.task.user  # type: ignore[attr-defined]
    return EitherOutput(UserBoxScore(user, label, box, forward.item.meta), on_results), described
