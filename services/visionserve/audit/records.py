"""From a served request to its audit record (no Ray).

The record keeps what an auditor cites and compares: the answer's classes, boxes, scores and
mask shares, not its bulk (masks, label maps and embedding vectors are left out; an
embedding keeps its dimension). Inputs are known by sha256 and size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from visionserve.audit.store import AuditRecord

_BULK = frozenset({"mask", "label_map_png", "score_maps_png"})


def _pruned(value: Any, labels: list[str]) -> Any:
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if key in _BULK:
                continue
            if key == "embedding" and isinstance(item, list):
                kept["embedding_dim"] = len(item)
                continue
            if key == "label" and isinstance(item, str):
                labels.append(item)
            kept[key] = _pruned(item, labels)
        return kept
    if isinstance(value, list):
        return [_pruned(item, labels) for item in value]
    return value


def summarise(results: Sequence[BaseModel], fields: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(the answer without its bulk, every label it named)."""
    labels: list[str] = []
    body = {"results": [_pruned(r.model_dump(mode="json"), labels) for r in results]}
    body.update(_pruned(dict(fields), labels))
    return body, labels


def record_of(
    *,
    request_id: str,
    endpoint: str,
    model: str,
    model_version: str,
    caller: str | None,
    created: float,
    latency_ms: float,
    images: Sequence[bytes],
    params: dict[str, Any],
    results: Sequence[BaseModel],
    fields: dict[str, Any],
    image_kept: bool,
) -> AuditRecord:
    response, labels = summarise(results, fields)
    sizes = [getattr(r, "image", None) for r in results]
    described = []
    for index, data in enumerate(images):
        size = sizes[index] if index < len(sizes) else None
        described.append(
            {
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "width": getattr(size, "width", None),
                "height": getattr(size, "height", None),
            }
        )
    return AuditRecord(
        request_id=request_id,
        created=created,
        endpoint=endpoint,
        model=model,
        model_version=model_version,
        caller=caller,
        latency_ms=latency_ms,
        params=params,
        images=described,
        labels=labels,
        response=response,
        image_kept=image_kept,
    )
