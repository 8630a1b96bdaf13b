"""Explanations: what /v1/explain and /v1/explain/stream take and answer."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

from visionserve_client.types.common import ImageSize, _Response, _Schema

ExplainMethod = Literal[
    "saliency",
    "smoothgrad",
    "integrated_gradients",
    "guided_backprop",
    "cam",
    "gradcam",
    "gradcam_plus_plus",
    "scorecam",
    "eigencam",
    "guided_gradcam",
    "occlusion",
    "rise",
]


class ExplainOptions(_Schema):
    """What to explain and how: the options of /v1/explain, which the audit trail's
    explanations of a recorded prediction take too (an option added here is in both)."""

    # Every method may be asked for at once: the bound follows the list of methods.
    methods: list[ExplainMethod] = Field(
        min_length=1, max_length=len(get_args(ExplainMethod)), description="Methods to run."
    )
    target_class: int | None = Field(default=None, ge=0, description="Class index (default: top-1).")
    target_label: str | None = Field(
        default=None,
        description="Class by label instead of index; CLIP: a zero-shot label, embedded through the "
        "model's prompt templates as /v1/zero-shot embeds it.",
    )
    target_text: str | None = Field(default=None, description="CLIP: the text query to explain.")
    target_box_index: int | None = Field(
        default=None, ge=0, description="Detectors: index in the model's /v1/detect answer (default 0)."
    )
    target_box: list[Annotated[float, Field(ge=-1e6, le=1e6)]] | None = Field(
        default=None, min_length=4, max_length=4, description="Detectors: [x1, y1, x2, y2] with target_label."
    )
    layer: str | None = Field(default=None, description="CAM methods: module name, or 'name.input'.")
    steps: int | None = Field(default=None, ge=2, le=512, description="Integrated Gradients steps.")
    baseline: Literal["zeros", "mean", "blur"] | None = Field(default=None, description="IG baseline.")
    samples: int | None = Field(default=None, ge=1, le=256, description="SmoothGrad samples.")
    noise_level: float | None = Field(default=None, ge=0.0, le=1.0, description="SmoothGrad sigma share.")
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1, description="SmoothGrad noise seed.")
    patch: int | None = Field(default=None, ge=1, le=4096, description="Occlusion patch side (input px).")
    stride: int | None = Field(default=None, ge=1, le=4096, description="Occlusion stride (input px).")
    fill: float | None = Field(
        default=None, ge=-1e4, le=1e4, description="Occlusion fill, in the model's input units."
    )
    masks: int | None = Field(default=None, ge=8, le=8192, description="RISE / D-RISE random masks.")
    grid: int | None = Field(default=None, ge=2, le=64, description="RISE mask grid cells per side.")
    probability: float | None = Field(default=None, gt=0.0, lt=1.0, description="RISE cell keep chance.")
    fidelity: bool | None = Field(default=None, description="Also compute deletion/insertion AUC.")
    overlay: bool | None = Field(default=None, description="Also return a PNG overlay on the image.")
    input_map: bool | None = Field(
        default=None,
        description="Also return each map at the model input's resolution (input_map), placed on "
        "the image by the result's geometry.",
    )


class _ExplainedImage(_Schema):
    images: list[str] = Field(description="Exactly one base64-encoded image file (or data: URI).")
    model: str | None = Field(
        default=None,
        description="Model name; default: the first model that offers explanations, in config order.",
    )


# pydantic orders fields from the last base to the first: images and model stay first.
class ExplainRequest(ExplainOptions, _ExplainedImage):
    """JSON body of ``POST /v1/explain``: why the model decided what it did on one image."""


class FloatMap(_Schema):
    """A float16 array, little-endian, row-major, base64; multiply by ``scale`` for the values."""

    shape: tuple[int, int] = Field(description="(height, width): the original image's, or the model input's.")
    dtype: Literal["float16"] = "float16"
    scale: float
    data: str


class Fidelity(_Schema):
    deletion_auc: float = Field(description="Lower is more faithful.")
    insertion_auc: float = Field(description="Higher is more faithful.")


class ExplainTarget(_Schema):
    kind: Literal["class", "segmentation_class", "text", "box"]
    index: int | None = Field(default=None, description="Class index, or the box's detection index.")
    label: str | None = None
    text: str | None = None
    box: tuple[float, float, float, float] | None = Field(default=None, description="In original pixels.")
    score: float = Field(
        description="The target's score: logit, summed logits, cosine, or matched box score + IoU."
    )


class MethodExplanation(_Schema):
    method: ExplainMethod
    layer: str | None = Field(default=None, description="The layer a CAM method used.")
    params: dict[str, float | int | str] = Field(
        default_factory=dict,
        description="What the method used; Integrated Gradients adds its completeness gap and why "
        "it stopped at its steps (steps_chosen: converged, budget or requested).",
    )
    raw: FloatMap = Field(
        description="The signed map at the original image's size; 0 outside geometry.image_box, "
        "which the model never saw (not seen, not 'no importance')."
    )
    input_map: FloatMap | None = Field(
        default=None,
        description="With input_map: the map at the model input's resolution, before it is placed "
        "on the image (geometry.input_box of it shows geometry.image_box of the image).",
    )
    signed: bool = Field(description="Whether the normalised view is in [-1, 1] (else [0, 1]).")
    normalized_png: str = Field(description="8-bit PNG of the normalised view (signed: 128 = 0).")
    overlay_png: str | None = None
    fidelity: Fidelity | None = None
    seconds: float = Field(ge=0.0, description="The method's own time, fidelity not included.")
    fidelity_seconds: float | None = Field(default=None, ge=0.0, description="The fidelity curves' time.")


class InputGeometry(_Schema):
    """Where the model's input lies on the original image (a centre crop, a letterbox, a resize)."""

    input_size: tuple[int, int] = Field(description="(width, height) of the model input.")
    input_box: tuple[int, int, int, int] = Field(
        description="x1, y1, x2, y2 of the input pixels that show the image (the rest is padding)."
    )
    image_box: tuple[int, int, int, int] = Field(
        description="x1, y1, x2, y2 of the original pixels the model saw: outside, nothing was seen."
    )


class ExplainResult(_Schema):
    image: ImageSize
    geometry: InputGeometry | None = Field(
        default=None, description="Where the model's input lies on the image (None from older servers)."
    )
    target: ExplainTarget
    explanations: list[MethodExplanation]


class ExplainResponse(_Response):
    results: list[ExplainResult]


class ExplainResultEvent(_Schema):
    """The last line of a successful ``/v1/explain/stream`` answer."""

    event: Literal["result"] = "result"
    response: ExplainResponse
