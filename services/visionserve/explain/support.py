"""Which explanation methods a model offers, from its config alone (no torch: the ingress asks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, get_args

from visionserve_client.types import ExplainMethod

if TYPE_CHECKING:
    from visionserve.config import ModelConfig

ALL_METHODS: tuple[str, ...] = get_args(ExplainMethod)
GRADIENT_FREE = ("occlusion", "rise")
GRADIENT_TASKS = ("classification", "semantic_segmentation", "clip")
FORWARD_TASKS = ("classification", "semantic_segmentation", "detection")
GRADIENT_HEADS = ("logits", "logits_map", "clip", "torchvision_detection")
USER_GRADIENT_TASKS = ("classification", "semantic_segmentation")
"""A user's torch model of these tasks returns logits, which gradient methods can read."""


def explained_through_results(model: ModelConfig) -> bool:
    """Whether occlusion and RISE read the model's typed results rather than its raw output:
    a user's model (its own decoding) and an instance segmenter (masks and boxes)."""
    return model.source.head == "custom" or model.task == "instance_segmentation"


def user_gradients(model: ModelConfig) -> bool:
    """Whether a user's torch model offers gradient methods (explain.gradients, by task)."""
    if not (model.source.head == "custom" and model.torch_model):
        return False
    wanted = model.explain.gradients
    return model.task in USER_GRADIENT_TASKS if wanted is None else wanted


def supported_methods(model: ModelConfig) -> list[str]:
    """Built-in torch models (also when served through an ONNX export): every method, CAM for
    classifiers only. Any other model: occlusion and RISE through what it outputs or, for
    a user's model and an instance segmenter, through its typed results; a user's torch model
    adds the gradient methods where ``user_gradients`` says (CAM needs a built-in head)."""
    task, head = model.task, model.source.head
    if model.torch_model and head in GRADIENT_HEADS and task in (*GRADIENT_TASKS, "detection"):
        return [m for m in ALL_METHODS if m != "cam" or task == "classification"]
    if user_gradients(model):
        return [m for m in ALL_METHODS if m != "cam"]
    if explained_through_results(model) or task in FORWARD_TASKS:
        return list(GRADIENT_FREE)
    return []
