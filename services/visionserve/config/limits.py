"""What one request may ask of the service: sizes, counts and time."""

from __future__ import annotations

from pydantic import Field

from visionserve.config.strict import StrictModel

PIXEL_CEILING = 250_000_000
"""The largest max_image_pixels; Pillow's own guard refuses images past it at open."""


class LimitsConfig(StrictModel):
    max_body_bytes: int = Field(default=32 * 2**20, ge=1024, description="Whole request body.")
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A request's body must have arrived this long after its headers, or 408.",
    )
    max_uploads_in_progress: int = Field(
        default=1024, ge=1, description="Bodies an ingress replica receives at once; past it, 503."
    )
    max_upload_buffer_bytes: int = Field(
        default=512 * 2**20, ge=1024, description="Bytes those bodies may hold at once; past it, 503."
    )
    max_images_per_request: int = Field(default=16, ge=1, le=1024)
    max_texts_per_request: int = Field(default=256, ge=1, le=10000)
    max_image_pixels: int = Field(
        default=40_000_000, ge=1, le=PIXEL_CEILING, description="width * height, checked before decoding."
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="Predictions, embeddings and model metadata."
    )
    explain_timeout_s: float = Field(
        default=300.0, gt=0, le=3600, description="Explanations, which take many passes by design."
    )
    max_explanation_passes: int = Field(
        default=4096,
        ge=1,
        description="Forward passes one explanation request may take (a gradient counts two): "
        "Integrated Gradients steps, SmoothGrad samples, occlusion windows, RISE masks.",
    )
