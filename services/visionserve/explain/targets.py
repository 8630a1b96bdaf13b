"""What an explanation explains: a differentiable score per batch item from the model's output.

Every target maps the model's output for a batch of N inputs to N scores, so that batched
methods (occlusion, Score-CAM, SmoothGrad, Integrated Gradients) score perturbations together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


class Target(Protocol):
    @property
    def kind(self) -> str: ...

    def __call__(self, output: Any) -> torch.Tensor:
        """(N,) scores for a batch's output."""


@dataclass(frozen=True)
class ClassLogit:
    """A classifier's logit for one class (pre-softmax: its gradient is never saturated)."""

    index: int
    kind: str = "class"

    def __call__(self, output: Any) -> torch.Tensor:
        logits: torch.Tensor = output
        return logits[:, self.index]


@dataclass(frozen=True)
class SegmentationClass:
    """A segmenter's logits of one class, summed over a fixed pixel mask (the class's region)."""

    index: int
    mask: torch.Tensor
    """(h, w) float mask at the model's output resolution, from the unperturbed prediction."""
    kind: str = "segmentation_class"

    def __call__(self, output: Any) -> torch.Tensor:
        logits: torch.Tensor = output["out"] if isinstance(output, dict) else output
        return (logits[:, self.index] * self.mask).sum(dim=(1, 2))


@dataclass(frozen=True)
class Cosine:
    """Cosine similarity of an image embedding with a fixed, normalised text embedding.

    Never a softmax over a single query: its value is constant and its gradient zero.
    """

    embedding: torch.Tensor
    kind: str = "text"

    def __call__(self, output: Any) -> torch.Tensor:
        image: torch.Tensor = output / output.norm(dim=1, keepdim=True).clamp(min=1e-12)
        return image @ self.embedding


def _best_match(
    boxes: torch.Tensor, scores: torch.Tensor, box: torch.Tensor, threshold: float
) -> torch.Tensor:
    """pytorch-grad-cam's FasterRCNNBoxScoreTarget: the best (IoU + score) among candidates of
    the right class that overlap the target box by more than ``threshold``; 0 if none does."""
    from torchvision.ops import box_iou

    if len(boxes) == 0:
        return scores.sum() * 0
    overlap: torch.Tensor = box_iou(boxes, box[None])[:, 0]
    matched = overlap > threshold
    if not bool(matched.any()):
        return scores.sum() * 0
    return (overlap[matched] + scores[matched]).max()


@dataclass(frozen=True)
class BoxScore:
    """A torchvision detector's box: its class's best matching detection (list-of-dicts output)."""

    label: int
    box: torch.Tensor
    """[x1, y1, x2, y2] in the model input's pixels."""
    iou_threshold: float = 0.5
    kind: str = "box"

    def __call__(self, output: Any) -> torch.Tensor:
        scores = []
        for detections in output:
            same = detections["labels"] == self.label
            scores.append(
                _best_match(
                    detections["boxes"][same], detections["scores"][same], self.box, self.iou_threshold
                )
            )
        return torch.stack(scores)


@dataclass(frozen=True)
class YoloxBoxScore:
    """A YOLOX box from the raw head (N, anchors, 5 + C): every anchor decoded, then matched."""

    label: int
    box: torch.Tensor
    cells: torch.Tensor
    strides: torch.Tensor
    iou_threshold: float = 0.5
    kind: str = "box"

    def __call__(self, output: Any) -> torch.Tensor:
        centres = (output[..., :2] + self.cells) * self.strides
        half = torch.exp(output[..., 2:4].clamp(max=20.0)) * self.strides / 2
        boxes = torch.cat((centres - half, centres + half), dim=-1)
        scores = output[..., 4] * output[..., 5 + self.label]
        return torch.stack(
            [_best_match(b, s, self.box, self.iou_threshold) for b, s in zip(boxes, scores, strict=True)]
        )


def first_tensor(output: Any) -> torch.Tensor:
    """A module's main output: itself, or the first of the tuple, list or dict it returns."""
    if isinstance(output, dict):
        output = next(iter(output.values()))
    elif isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"the module's first output is a {type(output).__name__}, not a tensor")
    return output


@dataclass(frozen=True)
class OnFirstTensor:
    """A logits target on a user's module that returns several outputs, the logits first."""

    target: Any

    @property
    def kind(self) -> str:
        return str(self.target.kind)

    @property
    def index(self) -> int:
        return int(self.target.index)

    def __call__(self, output: Any) -> torch.Tensor:
        return self.target(first_tensor(output))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class UserBoxScore:
    """A box of a user's detector, scored by its own ``box_scores`` on the module's raw output."""

    model: Any
    """The user's VisionModel."""
    label: int
    box: tuple[float, float, float, float]
    """In the original image's pixels, as its results give boxes."""
    meta: Any
    kind: str = "box"

    def __call__(self, output: Any) -> torch.Tensor:
        scores = self.model.box_scores(output, self.label, torch.tensor(self.box), self.meta)
        if not isinstance(scores, torch.Tensor) or scores.ndim != 1:
            raise TypeError(f"{type(self.model).__name__}.box_scores must return an (N,) tensor")
        return scores
