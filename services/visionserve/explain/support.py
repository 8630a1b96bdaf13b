"""Which explanation methods a model offers, from its config alone (no torch: the ingress asks)."""

from __future__ import annotations

from typing import get_args

from visionserve_client.types import ExplainMethod

ALL_METHODS: tuple[str, ...] = get_args(ExplainMethod)
GRADIENT_FREE = ("occlusion", "rise")
GRADIENT_TASKS = ("classification", "semantic_segmentation", "clip")
FORWARD_TASKS = ("classification", "semantic_segmentation", "detection")
GRADIENT_HEADS = ("logits", "logits_map", "clip", "custom", "torchvision_detection")


def supported_methods(task: str, torch_model: bool, head: str) -> list[str]:
    """Torch models (also when served through an ONNX export): every method, CAM for classifiers
    only; ONNX models: gradient-free ones. Instance segmentation is not explained yet.
    """
    if torch_model and head in GRADIENT_HEADS and task in (*GRADIENT_TASKS, "detection"):
        return [m for m in ALL_METHODS if m != "cam" or task == "classification"]
    if task in FORWARD_TASKS and head != "custom":
        return list(GRADIENT_FREE)
    return []
