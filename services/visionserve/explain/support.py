"""Which explanation methods a model offers, from its config alone (no torch: the ingress asks)."""

from __future__ import annotations

from typing import get_args

from visionserve_client.types import ExplainMethod

ALL_METHODS: tuple[str, ...] = get_args(ExplainMethod)
GRADIENT_FREE = ("occlusion",)
GRADIENT_TASKS = ("classification", "semantic_segmentation", "clip")
FORWARD_TASKS = ("classification", "semantic_segmentation")


def supported_methods(task: str, backend: str, head: str) -> list[str]:
    """Torch models: every method (CAM for classifiers only); others: gradient-free ones.

    Detectors are not explained yet: box targets (matched boxes, D-RISE) are still to come.
    """
    if backend == "torch" and task in GRADIENT_TASKS:
        return [m for m in ALL_METHODS if m != "cam" or task == "classification"]
    if task in FORWARD_TASKS and head != "custom":
        return list(GRADIENT_FREE)
    return []
