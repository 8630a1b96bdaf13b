"""Does a faster, inexact backend answer as the exact one does? The accuracy gate's rules.

Each rule compares one task's answers on the same inputs: the reference's (fp32) against a
candidate's (bf16, int8). Rules judge what a caller sees, not raw numbers, and forgive what
no caller could rely on: a classifier may swap the top two classes where fp32 itself barely
told them apart.

- classification: the same top-1 wherever fp32's top-1 leads its second by at least
  ``CLEAR_MARGIN`` in probability; the same top-1 on at least ``MIN_TOP1`` of all inputs; and
  the candidate's top-1 always among fp32's top 5.
- detection: at least ``MIN_BOXES_KEPT`` of fp32's boxes scoring >= ``BOX_SCORE`` found again
  with the same label at IoU >= ``BOX_IOU``.
- semantic segmentation: for every class, the mean IoU of its masks (where fp32 finds it on
  at least 1% of an input) at least ``MIN_MASK_IOU``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from visionserve.tasks.base import Prepared, Task

CLEAR_MARGIN = 0.05
MIN_TOP1 = 0.97
BOX_SCORE = 0.5
BOX_IOU = 0.9
MIN_BOXES_KEPT = 0.98
MIN_MASK_IOU = 0.95
GATED_TASKS = ("classification", "detection", "semantic_segmentation")
RULES = (CLEAR_MARGIN, MIN_TOP1, BOX_SCORE, BOX_IOU, MIN_BOXES_KEPT, MIN_MASK_IOU)


@dataclass(frozen=True)
class Agreement:
    passed: bool
    score: float
    """The rule's figure: top-1 agreement, share of boxes kept, or mean mask IoU."""
    detail: str
    """What was measured, and what failed if anything did."""


def answers(task: Task[Any, Any], outputs: Any, count: int) -> list[Any]:
    """What the gate compares for ``count`` inputs, from the runner's batched outputs."""
    rows = task.split(outputs, count)
    if task.name == "classification":
        return [_probabilities(np.asarray(row, dtype=np.float64)) for row in rows]
    if task.name == "detection":
        return [_boxes(task, row) for row in rows]
    if task.name == "semantic_segmentation":
        # int16: a few hundred label maps are held at once
        return [task.input_label_map(np.asarray(row, dtype=np.float32)).astype(np.int16) for row in rows]  # type: ignore[attr-defined]
    raise ValueError(f"no accuracy gate for task {task.name}")


def judge(task_name: str, reference: Sequence[Any], candidate: Sequence[Any]) -> Agreement:
    if len(reference) != len(candidate) or not reference:
        raise ValueError("the gate compares answers to the same inputs, at least one")
    if task_name == "classification":
        return _classification(reference, candidate)
    if task_name == "detection":
        return _detection(reference, candidate)
    return _segmentation(reference, candidate)


def _probabilities(logits: np.ndarray) -> np.ndarray:
    if logits.min() >= 0.0 and abs(float(logits.sum()) - 1.0) < 1e-3:
        return logits  # the model already outputs probabilities
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()  # type: ignore[no-any-return]


def _classification(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> Agreement:
    same = clear = clear_missed = outside_top5 = 0
    widest_missed = 0.0
    for ref, cand in zip(reference, candidate, strict=True):
        order = np.argsort(-ref)
        top1 = int(np.argmax(cand))
        agrees = top1 == int(order[0])
        same += agrees
        margin = float(ref[order[0]] - ref[order[1]])
        if margin >= CLEAR_MARGIN:
            clear += 1
            clear_missed += not agrees
        if not agrees:
            widest_missed = max(widest_missed, margin)
        outside_top5 += top1 not in order[:5]
    share = same / len(reference)
    failures = []
    if clear_missed:
        failures.append(f"{clear_missed} of {clear} clear top-1s changed")
    if share < MIN_TOP1:
        failures.append(f"top-1 agreement {share:.1%} < {MIN_TOP1:.0%}")
    if outside_top5:
        failures.append(f"{outside_top5} top-1s outside fp32's top 5")
    detail = f"top-1 same on {same} of {len(reference)} inputs ({clear} with a clear top-1)"
    if same < len(reference):
        detail += f", changed ones' fp32 margin at most {widest_missed:.3f}"
    return Agreement(not failures, share, "; ".join([detail, *failures]))


def _boxes(task: Task[Any, Any], row: Any) -> list[tuple[int, np.ndarray]]:
    params = task.parse_params({"score_threshold": BOX_SCORE})
    # Boxes in model-input pixels: postprocess on an item the size of the input, unscaled.
    size = int(task.cfg.preprocess.input_size or 0)
    item = Prepared(tensor=np.empty(0, dtype=np.float32), width=size, height=size, scale=1.0)
    result = task.postprocess(row, item, params)
    return [(d.class_index, np.asarray(d.box, dtype=np.float64)) for d in result.detections]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _detection(reference: Sequence[Any], candidate: Sequence[Any]) -> Agreement:
    total = kept = 0
    for ref_boxes, cand_boxes in zip(reference, candidate, strict=True):
        unused = list(cand_boxes)
        for label, box in ref_boxes:
            total += 1
            match = next((c for c in unused if c[0] == label and _iou(box, c[1]) >= BOX_IOU), None)
            if match is not None:
                unused.remove(match)
                kept += 1
    share = kept / total if total else 1.0
    detail = f"{kept} of {total} boxes scoring >= {BOX_SCORE} kept at IoU >= {BOX_IOU} with the same label"
    if share < MIN_BOXES_KEPT:
        detail += f"; {share:.1%} < {MIN_BOXES_KEPT:.0%}"
    return Agreement(share >= MIN_BOXES_KEPT, share, detail)


def _segmentation(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> Agreement:
    """Each class's own mean mask IoU must reach the bar: a large background's near-perfect
    masks must not hide a foreground that lost a tenth of its pixels."""
    by_class: dict[int, list[float]] = {}
    for ref, cand in zip(reference, candidate, strict=True):
        for label in np.unique(ref):
            ref_mask = ref == label
            if ref_mask.mean() < 0.01:
                continue
            cand_mask = cand == label
            iou = float((ref_mask & cand_mask).sum() / (ref_mask | cand_mask).sum())
            by_class.setdefault(int(label), []).append(iou)
    means = {label: float(np.mean(ious)) for label, ious in by_class.items()}
    worst = min(means, key=lambda label: means[label]) if means else None
    score = means[worst] if worst is not None else 1.0
    masks = sum(len(ious) for ious in by_class.values())
    detail = f"mean mask IoU {score:.4f} for its worst class (class {worst}) over {masks} class masks"
    if score < MIN_MASK_IOU:
        detail += f"; < {MIN_MASK_IOU}"
    return Agreement(score >= MIN_MASK_IOU, score, detail)
