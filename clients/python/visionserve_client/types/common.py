"""What every part of the API shares: the schema base, the citing fields of an answer, image
sizes, errors and the progress of streamed answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TaskName = Literal["classification", "detection", "semantic_segmentation", "instance_segmentation", "clip"]

MAX_TOP_K = 1000
"""Upper bound of ``top_k`` on the wire; a model may allow fewer (its label count)."""


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(_Schema):
    request_id: str
    model: str
    model_version: str = Field(description="sha256 of the weights file that produced this.")


class ImageSize(_Schema):
    width: int = Field(ge=1, description="Width of the image as displayed, in pixels.")
    height: int = Field(ge=1, description="Height of the image as displayed, in pixels.")


class NoContent(_Schema):
    """The empty answer of a DELETE (204)."""


class ErrorDetail(_Schema):
    code: str = Field(description="Stable machine-readable error kind, e.g. 'invalid_image'.")
    message: str = Field(description="What went wrong and what to do instead.")
    request_id: str


class ErrorResponse(_Schema):
    error: ErrorDetail


# ---------------------------------------------------------------- streamed events (NDJSON)


class ProgressEvent(_Schema):
    """A long request's progress: one line of a ``/v1/explain/stream`` answer."""

    event: Literal["progress"] = "progress"
    request_id: str
    stage: str = Field(
        description="What runs now: an explanation method; 'queue' while the request waits for "
        "its explainer replica (then ``ahead`` says behind how many)."
    )
    stage_index: int | None = Field(default=None, ge=0, description="Its place among the stages.")
    stages: int = Field(ge=0, description="How many stages the request has.")
    done: int = Field(
        ge=0, description="Inputs of the stage done (0 when it starts), counted after each batch."
    )
    total: int = Field(
        ge=1,
        description="Inputs the stage runs: occlusion windows, RISE masks, SmoothGrad samples, "
        "Integrated Gradients points, Score-CAM channels; 1 for a single pass.",
    )
    ahead: int | None = Field(
        default=None, ge=0, description="Stage 'queue': requests of its replica that came before it."
    )


class ErrorEvent(_Schema):
    """The last line of a stream that failed after it began (the status was already 200)."""

    event: Literal["error"] = "error"
    status: int = Field(ge=400, le=599, description="The HTTP status the error would have had.")
    error: ErrorDetail
