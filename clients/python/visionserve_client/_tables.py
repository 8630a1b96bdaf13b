"""How the command line shows the service's answers: plain-text tables, and a recorded
prediction's best-scored labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from visionserve_client.types import (
    ClassifyResponse,
    DetectResponse,
    ExplainResponse,
    InstanceSegmentation,
    ModelLabels,
    ModelList,
    SegmentResponse,
)


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


Rows = list[tuple[object, ...]]


def _box(box: Sequence[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in box)


def _describe_segment(response: SegmentResponse, name: str) -> str:
    result = response.results[0]
    if isinstance(result, InstanceSegmentation):
        rows: Rows = [(i.label, f"{i.score:.3f}", _box(i.box)) for i in result.instances]
        title = f"{name} ({response.model}): {len(rows)} instances"
        return title + "\n" + table(rows, ("label", "score", "box"))
    rows = [(c.label, f"{100 * c.pixel_share:.1f}%", f"{c.score:.3f}") for c in result.classes]
    return f"{name} ({response.model})\n" + table(rows, ("class", "pixels", "score"))


def _describe_explain(response: ExplainResponse, name: str) -> str:
    result = response.results[0]
    target = result.target.label or result.target.text or result.target.index
    rows: Rows = []
    for explanation in result.explanations:
        deletion = f"{explanation.fidelity.deletion_auc:.3f}" if explanation.fidelity else ""
        rows.append((explanation.method, explanation.layer or "", f"{explanation.seconds:.2f}s", deletion))
    header = ("method", "layer", "time", "deletion AUC")
    return f"{name} ({response.model}): why {target!s}\n" + table(rows, header)


def describe(response: BaseModel, name: str) -> str:
    if isinstance(response, ClassifyResponse):
        rows: Rows = [(c.label, f"{c.score:.3f}", c.index) for c in response.results[0].classes]
        return f"{name} ({response.model})\n" + table(rows, ("label", "score", "index"))
    if isinstance(response, DetectResponse):
        found = response.results[0].detections
        rows = [(d.label, f"{d.score:.3f}", _box(d.box)) for d in found]
        return f"{name} ({response.model}): {len(found)} objects\n" + table(rows, ("label", "score", "box"))
    if isinstance(response, SegmentResponse):
        return _describe_segment(response, name)
    if isinstance(response, ExplainResponse):
        return _describe_explain(response, name)
    if isinstance(response, ModelList):
        rows = [
            (m.name, m.task, "yes" if m.ready else "no", m.model_version[:12], ", ".join(m.explain_methods))
            for m in response.models
        ]
        return table(rows, ("name", "task", "ready", "version", "explain methods"))
    if isinstance(response, ModelLabels):
        rows = [(index, label) for index, label in enumerate(response.labels)]
        title = f"{response.model} ({response.model_version[:12] or 'no version'}): {len(rows)} labels"
        return title + "\n" + table(rows, ("index", "label"))
    return response.model_dump_json(indent=2)


def top_predictions(response: dict[str, Any], count: int = 3) -> str:
    """The best-scored labels of a recorded answer, best first, each once: "cat 0.91, dog 0.05"."""
    scored: list[tuple[float, str]] = []
    pending: list[Any] = [response.get("results", [])]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            label, score = value.get("label"), value.get("score")
            if isinstance(label, str) and isinstance(score, (int, float)):
                scored.append((float(score), label))
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    best: dict[str, float] = {}
    for score, label in sorted(scored, reverse=True):
        best.setdefault(label, score)
    return ", ".join(f"{label} {score:.2f}" for label, score in list(best.items())[:count])
