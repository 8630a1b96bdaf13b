"""Understanding views: what /v1/understand/* take and answer (filters, reference sets,
neighbours, feature maps, top patches, class models, inversion, DeepDream, attention rollout)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from visionserve_client.types.common import _Response, _Schema


class FloatArray(_Schema):
    """An array of any shape: float32 little-endian, row-major, base64."""

    shape: list[int]
    dtype: Literal["float32"] = "float32"
    data: str


class ReferenceSetRequest(_Schema):
    """JSON body of ``POST /v1/understand/reference-sets`` importing a server folder (else upload
    the images as multipart ``images`` with a ``name`` field)."""

    name: str = Field(min_length=1, max_length=200)
    folder: str = Field(description="A folder under one of understand.folder_roots.")


class ReferenceItem(_Schema):
    index: int = Field(ge=0)
    name: str
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    sha256: str


class ReferenceSetInfo(_Schema):
    id: str
    name: str
    created: float = Field(description="Unix time the set was made.")
    count: int = Field(ge=1)
    items: list[ReferenceItem]


class ReferenceSetList(_Schema):
    reference_sets: list[ReferenceSetInfo]


class FiltersResponse(_Response):
    layer: str = Field(description="The first convolution's module name.")
    weights: FloatArray = Field(description="(out, in, kh, kw) weights, exactly the model's.")
    grid_png: str = Field(description="base64 PNG: one tile per filter, each min-max scaled.")


class NeighboursRequest(_Schema):
    """``POST /v1/understand/neighbours``: a query image (multipart ``images``), or ``item``."""

    images: list[str] | None = Field(default=None, description="Query images, base64 (or multipart files).")
    model: str | None = None
    reference_set: str
    item: int | None = Field(
        default=None, ge=0, description="Query by an image of the set (itself excluded)."
    )
    k: int | None = Field(default=None, ge=1, description="Neighbours per query (default 5).")
    metric: Literal["cosine", "l2"] | None = None
    layer: str | None = Field(default=None, description="Default: the input of the last global pool.")


class Neighbour(_Schema):
    index: int = Field(ge=0)
    name: str
    distance: float = Field(description="Cosine distance (1 - similarity) or Euclidean.")


class NeighbourList(_Schema):
    query: str = Field(description="'image N' or 'item N'.")
    neighbours: list[Neighbour] = Field(description="Nearest first.")


class NeighboursResponse(_Response):
    reference_set: str
    layer: str
    metric: Literal["cosine", "l2"]
    search: Literal["exact", "hnsw"]
    dim: int
    results: list[NeighbourList]


class FeatureMapRequest(_Schema):
    model: str | None = None
    reference_set: str
    method: Literal["pca", "tsne"] | None = None
    layer: str | None = None
    seed: int | None = Field(default=None, ge=0)
    perplexity: float | None = Field(default=None, gt=1.0, le=100.0)


class MapPoint(_Schema):
    index: int
    name: str
    x: float
    y: float


class FeatureMapResponse(_Response):
    reference_set: str
    layer: str
    method: Literal["pca", "tsne"]
    points: list[MapPoint]
    scatter_png: str = Field(description="base64 PNG: each image's thumbnail at its point.")


class TopPatchesRequest(_Schema):
    model: str | None = None
    reference_set: str
    channel: int = Field(ge=0)
    layer: str | None = None
    k: int | None = Field(default=None, ge=1, le=100, description="Patches, one per image (default 9).")


class Patch(_Schema):
    index: int = Field(description="The image of the set.")
    name: str
    activation: float
    position: tuple[int, int] = Field(description="(row, column) of the unit in the layer's map.")
    box: tuple[float, float, float, float] = Field(
        description="The unit's receptive field [x1, y1, x2, y2] in the image's original pixels."
    )
    patch_png: str


class TopPatchesResponse(_Response):
    reference_set: str
    layer: str
    channel: int
    channels: int = Field(description="Channels the layer has.")
    patches: list[Patch] = Field(description="Strongest first.")


class ClassModelRequest(_Schema):
    model: str | None = None
    target_class: int | None = Field(default=None, ge=0)
    target_label: str | None = None
    steps: int | None = Field(default=None, ge=1)
    learning_rate: float | None = Field(default=None, gt=0.0, le=10.0)
    l2: float | None = Field(default=None, ge=0.0, le=1.0, description="L2 penalty on the image.")
    jitter: int | None = Field(default=None, ge=0, le=64, description="Random shift per step, pixels.")
    blur_every: int | None = Field(
        default=None, ge=0, le=1000, description="Gaussian blur every N steps (0: never)."
    )
    blur_sigma: float | None = Field(default=None, gt=0.0, le=5.0)
    seed: int | None = Field(default=None, ge=0)


class ClassRef(_Schema):
    index: int = Field(ge=0)
    label: str


class ClassModelResponse(_Response):
    target: ClassRef
    probability: float = Field(ge=0.0, le=1.0, description="Softmax of the target class for the image made.")
    logit: float
    params: dict[str, float | int]
    image_png: str


class InversionRequest(_Schema):
    images: list[str] = Field(description="Exactly one image (or a multipart file).")
    model: str | None = None
    layer: str | None = None
    steps: int | None = Field(default=None, ge=1)
    learning_rate: float | None = Field(default=None, gt=0.0, le=10.0)
    tv_weight: float | None = Field(
        default=None, ge=0.0, le=100.0, description="Total-variation prior weight."
    )
    seed: int | None = Field(default=None, ge=0)


class InversionResponse(_Response):
    layer: str
    ssim: float = Field(description="Structural similarity of the reconstruction and the model's input.")
    feature_error: float = Field(description="||phi(x) - phi(x0)|| / ||phi(x0)|| at the end.")
    params: dict[str, float | int]
    input_png: str = Field(description="The image as the model saw it (its input size).")
    image_png: str


class DeepDreamRequest(_Schema):
    images: list[str] = Field(description="Exactly one image (or a multipart file).")
    model: str | None = None
    layer: str | None = None
    steps: int | None = Field(default=None, ge=1, description="Steps per octave.")
    octaves: int | None = Field(default=None, ge=1, le=8)
    octave_scale: float | None = Field(default=None, ge=1.0, le=3.0)
    learning_rate: float | None = Field(default=None, gt=0.0, le=10.0)
    jitter: int | None = Field(default=None, ge=0, le=64)
    seed: int | None = Field(default=None, ge=0)


class DeepDreamResponse(_Response):
    layer: str
    activation_norm_before: float
    activation_norm_after: float
    params: dict[str, float | int]
    input_png: str
    image_png: str


class RolloutRequest(_Schema):
    images: list[str] = Field(description="Exactly one image (or a multipart file).")
    model: str | None = None
    discard_ratio: float | None = Field(default=None, ge=0.0, lt=1.0, description="Weakest links dropped.")


class RolloutResponse(_Response):
    grid: FloatArray = Field(description="(rows, columns) per patch token.")
    map: FloatArray = Field(description="The grid upsampled onto the original image.")
    normalized_png: str


class UnderstandResultEvent(_Schema):
    """The last line of a successful ``/v1/understand/.../stream`` answer."""

    event: Literal["result"] = "result"
    response: ClassModelResponse | InversionResponse | DeepDreamResponse
