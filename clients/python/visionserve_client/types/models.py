"""The models and the service: /v1/models, /v1/models/{name}, /v1/models/{name}/labels,
/healthz and /readyz."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from visionserve_client.types.common import TaskName, _Schema


class ModelInfo(_Schema):
    name: str
    task: TaskName
    ready: bool
    error: str | None = Field(default=None, description="Why the model is not ready, if it is not.")
    labels_count: int = Field(ge=0)
    input_size: tuple[int, int] | None = Field(
        description="(height, width) the model runs at; none for models that take any size."
    )
    weights_sha256: str
    model_version: str
    backend: str
    device: str
    max_batch_size: int
    explain_methods: list[str] = Field(default_factory=list, description="Methods /v1/explain offers.")
    explain_layer: str | None = Field(default=None, description="Default layer of CAM methods.")


class ModelList(_Schema):
    models: list[ModelInfo]


class ModelLabels(_Schema):
    """A model's label set, in the order of its class indices (``GET /v1/models/{name}/labels``)."""

    model: str = Field(description="The model's configured name.")
    model_version: str = Field(description="The served weights' version; may be empty.")
    labels: list[str] = Field(
        description="Class names in index order: the label set the model predicts; empty for a model "
        "that has none, such as a CLIP image encoder without a configured label set."
    )


class Health(_Schema):
    status: Literal["ok"]


class Readiness(_Schema):
    ready: bool
    models: dict[str, bool]
    errors: dict[str, str] = Field(default_factory=dict)
