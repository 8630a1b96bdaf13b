"""What a model, pipeline or explainer replica answers the ingress with.

Kept apart from the replicas' code on purpose: the ingress unpickles these, and unpickling
imports the module that defines the class. Defined beside the model code, this pulled torch
and torchvision into the ingress on its first request (seconds, and hundreds of MB).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class PredictOutput(BaseModel):
    model_version: str
    results: list[Any]
    fields: dict[str, Any] = {}
    """Response fields beside the results (embedding dtype and dim, zero-shot scoring)."""
