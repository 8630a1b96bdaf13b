"""The models and the service: /v1/models, /v1/models/{name}, /v1/models/{name}/labels,
/healthz and /readyz."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from visionserve_client.types.common import TaskName, _Schema


class RuntimeCandidate(_Schema):
    """One backend and precision measured for a model at load (``runtime.backend: auto``)."""

    backend: str
    precision: str
    images_per_second: float | None = Field(
        default=None, description="Mean of the rates at batch 1 and at the model's max batch size."
    )
    passed: bool = Field(description="Whether it passed the accuracy gate against fp32.")
    agreement: float | None = Field(
        default=None,
        description="The gate's figure: top-1 agreement, share of boxes kept, or mean mask IoU; "
        "none where no gate photos were given.",
    )
    detail: str = Field(description="What the gate measured, or why the candidate was left out.")


class RuntimeChoice(_Schema):
    """Which backend and precision serve the model, and the evidence they were chosen on."""

    backend: str
    precision: str
    chosen_by: Literal["config", "measurement"]
    agreement: float | None = Field(default=None, description="The served candidate's gate figure.")
    gate_inputs: int = Field(ge=0, description="Crops and flips of the gate photos compared.")
    cpu: str = Field(description="The CPU the measurement ran on.")
    cached: bool = Field(
        description="Read from the cache of an earlier measurement (same weights, CPU, config)."
    )
    candidates: list[RuntimeCandidate] = Field(default_factory=list)


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
    precision: str = Field(default="fp32", description="What the served graph computes in.")
    runtime: RuntimeChoice | None = Field(
        default=None, description="How backend and precision were chosen (openvino and auto backends)."
    )
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
