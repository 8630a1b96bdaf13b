"""Wire schemas of the VisionServe HTTP API v1.

These pydantic models are the single definition of every request and response body: the
server imports them, the client parses responses with them.

Data contracts:

- Boxes are ``[x1, y1, x2, y2]`` in pixels of the ORIGINAL image as displayed (after its
  EXIF orientation is applied), with ``0 <= x1 <= x2 <= width`` and ``0 <= y1 <= y2 <= height``.
- Scores are probabilities in ``[0, 1]``.
- Masks are COCO run-length encodings (``RLE``) at the original image size; a label map is a
  base64 PNG whose pixel values are class indices (8-bit, or 16-bit past 255 classes).
- ``model_version`` is the sha256 of the model's weights file: two responses with the same
  ``model_version`` came from the same weights.
- Images travel compressed (JPEG, PNG, WebP, BMP, GIF, TIFF); in JSON bodies as base64,
  optionally as a ``data:`` URI.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TaskName = Literal["classification", "detection", "semantic_segmentation", "instance_segmentation", "clip"]

MAX_TOP_K = 1000
"""Upper bound of ``top_k`` on the wire; a model may allow fewer (its label count)."""


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- requests (JSON bodies)


class ClassifyRequest(_Schema):
    """JSON body of ``POST /v1/classify``."""

    images: list[str] = Field(description="Base64-encoded image files (or data: URIs), in order.")
    model: str | None = Field(default=None, description="Model name; default: the first classifier.")
    top_k: int | None = Field(default=None, ge=1, le=MAX_TOP_K, description="Classes returned per image.")


class DetectRequest(_Schema):
    """JSON body of ``POST /v1/detect``."""

    images: list[str] = Field(description="Base64-encoded image files (or data: URIs), in order.")
    model: str | None = Field(default=None, description="Model name; default: the first detector.")
    score_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Drop detections scoring below this."
    )
    iou_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="IoU above which class-wise NMS suppresses a box."
    )
    max_detections: int | None = Field(
        default=None, ge=1, le=1000, description="Most detections returned per image."
    )


class SegmentRequest(_Schema):
    """JSON body of ``POST /v1/segment`` (semantic and instance segmentation models)."""

    images: list[str] = Field(description="Base64-encoded image files (or data: URIs), in order.")
    model: str | None = Field(default=None, description="Model name; default: the first segmenter.")
    classes: list[str] | None = Field(
        default=None, max_length=1000, description="Only these labels (unknown labels are an error)."
    )
    include_masks: bool | None = Field(default=None, description="Masks as RLE (default true).")
    include_label_map: bool | None = Field(
        default=None, description="Semantic: the whole label map as a PNG (default false)."
    )
    include_scores: bool | None = Field(
        default=None, description="Semantic: each class's probability map as an 8-bit PNG."
    )
    score_threshold: float | None = Field(default=None, ge=0.0, le=1.0, description="Instances.")
    mask_threshold: float | None = Field(default=None, gt=0.0, lt=1.0)
    max_detections: int | None = Field(default=None, ge=1, le=1000, description="Instances.")


EmbeddingDType = Literal["float32", "float16"]
MAX_ZERO_SHOT_LABELS = 1000


class EmbedImageRequest(_Schema):
    """JSON body of ``POST /v1/embed/image``."""

    images: list[str] = Field(description="Base64-encoded image files (or data: URIs), in order.")
    model: str | None = Field(default=None, description="Model name; default: the first CLIP model.")
    dtype: EmbeddingDType | None = Field(default=None, description="float32 (default) or float16.")


class EmbedTextRequest(_Schema):
    """JSON body of ``POST /v1/embed/text``."""

    texts: list[str] = Field(min_length=1, description="Texts to embed, in order.")
    model: str | None = Field(default=None, description="Model name; default: the first CLIP model.")
    dtype: EmbeddingDType | None = Field(default=None, description="float32 (default) or float16.")


class ZeroShotRequest(_Schema):
    """JSON body of ``POST /v1/zero-shot``: score each image against labels."""

    images: list[str] = Field(description="Base64-encoded image files (or data: URIs), in order.")
    model: str | None = Field(default=None, description="Model name; default: the first CLIP model.")
    labels: list[str] | None = Field(
        default=None, max_length=MAX_ZERO_SHOT_LABELS, description="Candidate labels (or label_set)."
    )
    label_set: str | None = Field(default=None, description="A label set named in the model's config.")
    templates: list[str] | None = Field(
        default=None,
        max_length=64,
        description="Prompts with '{}' for the label; several are averaged (prompt ensembling).",
    )
    top_k: int | None = Field(default=None, ge=1, le=MAX_ZERO_SHOT_LABELS, description="Labels returned.")


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


class ExplainRequest(_Schema):
    """JSON body of ``POST /v1/explain``: why the model decided what it did on one image."""

    images: list[str] = Field(description="Exactly one base64-encoded image file (or data: URI).")
    model: str | None = Field(default=None, description="Model name; default: the first classifier.")
    methods: list[ExplainMethod] = Field(min_length=1, max_length=11, description="Methods to run.")
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


# ---------------------------------------------------------------- results


class ImageSize(_Schema):
    width: int = Field(ge=1, description="Width of the image as displayed, in pixels.")
    height: int = Field(ge=1, description="Height of the image as displayed, in pixels.")


class ClassScore(_Schema):
    index: int = Field(ge=0, description="Class index in the model's output.")
    label: str
    score: float = Field(ge=0.0, le=1.0, description="Softmax probability.")


class Classification(_Schema):
    """Top-k classes of one image, best first."""

    image: ImageSize
    classes: list[ClassScore]


class Detection(_Schema):
    box: tuple[float, float, float, float] = Field(
        description="[x1, y1, x2, y2] in pixels of the original image, clipped to it."
    )
    label: str
    class_index: int = Field(ge=0)
    score: float = Field(ge=0.0, le=1.0)


class DetectionResult(_Schema):
    """Detections of one image, best score first."""

    image: ImageSize
    detections: list[Detection]


class RLE(_Schema):
    """COCO run-length encoding of a binary mask, as pycocotools writes it (column-major)."""

    size: tuple[int, int] = Field(description="(height, width) of the mask: the original image.")
    counts: str


class SegmentClass(_Schema):
    index: int = Field(ge=0)
    label: str
    pixel_share: float = Field(ge=0.0, le=1.0, description="Share of the image's pixels.")
    score: float = Field(ge=0.0, le=1.0, description="Mean probability over the class's pixels.")
    mask: RLE | None = None


class SemanticSegmentation(_Schema):
    """Classes present in one image, largest first."""

    kind: Literal["semantic"] = "semantic"
    image: ImageSize
    classes: list[SegmentClass]
    label_map_png: str | None = Field(default=None, description="base64 PNG of class indices.")
    score_maps_png: dict[str, str] | None = Field(
        default=None, description="label -> base64 8-bit PNG of its probability (255 = 1.0)."
    )


class Instance(_Schema):
    box: tuple[float, float, float, float] = Field(
        description="[x1, y1, x2, y2] in pixels of the original image, clipped to it."
    )
    label: str
    class_index: int = Field(ge=0)
    score: float = Field(ge=0.0, le=1.0)
    mask: RLE | None = None


class InstanceSegmentation(_Schema):
    """Object instances in one image, best score first."""

    kind: Literal["instance"] = "instance"
    image: ImageSize
    instances: list[Instance]


SegmentationResult = Annotated[SemanticSegmentation | InstanceSegmentation, Field(discriminator="kind")]


class ImageEmbedding(_Schema):
    image: ImageSize
    embedding: list[float] = Field(description="L2-normalised; float16 values if asked for.")


class TextEmbedding(_Schema):
    text: str
    tokens: int = Field(ge=0, description="Tokens the text took, start and end included.")
    embedding: list[float] = Field(description="L2-normalised; float16 values if asked for.")


class LabelScore(_Schema):
    label: str
    score: float = Field(ge=0.0, le=1.0, description="Softmax over labels, or an independent sigmoid.")
    similarity: float = Field(ge=-1.0, le=1.0, description="Cosine similarity of image and label.")


class ZeroShotResult(_Schema):
    """Labels for one image, best first."""

    image: ImageSize
    scores: list[LabelScore]


class FloatMap(_Schema):
    """A float16 array, little-endian, row-major, base64; multiply by ``scale`` for the values."""

    shape: tuple[int, int] = Field(description="(height, width): the original image's.")
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
    params: dict[str, float | int | str] = Field(default_factory=dict)
    raw: FloatMap = Field(description="The signed map at the original image's size.")
    signed: bool = Field(description="Whether the normalised view is in [-1, 1] (else [0, 1]).")
    normalized_png: str = Field(description="8-bit PNG of the normalised view (signed: 128 = 0).")
    overlay_png: str | None = None
    fidelity: Fidelity | None = None
    seconds: float = Field(ge=0.0)


class ExplainResult(_Schema):
    image: ImageSize
    target: ExplainTarget
    explanations: list[MethodExplanation]


class _Response(_Schema):
    request_id: str
    model: str
    model_version: str = Field(description="sha256 of the weights file that produced this.")


class ClassifyResponse(_Response):
    results: list[Classification] = Field(description="One entry per input image, in order.")


class DetectResponse(_Response):
    results: list[DetectionResult] = Field(description="One entry per input image, in order.")


class EmbedImageResponse(_Response):
    dtype: EmbeddingDType
    dim: int = Field(ge=1)
    results: list[ImageEmbedding] = Field(description="One entry per input image, in order.")


class EmbedTextResponse(_Response):
    dtype: EmbeddingDType
    dim: int = Field(ge=1)
    results: list[TextEmbedding] = Field(description="One entry per input text, in order.")


class ZeroShotResponse(_Response):
    scoring: Literal["softmax", "sigmoid"] = Field(
        description="softmax: scores over the labels sum to 1; sigmoid (SigLIP): each independent."
    )
    logit_scale: float = Field(description="score = softmax or sigmoid(logit_scale * similarity + bias).")
    logit_bias: float | None = None
    results: list[ZeroShotResult] = Field(description="One entry per input image, in order.")


class ExplainResponse(_Response):
    results: list[ExplainResult]


class SegmentResponse(_Response):
    results: list[SegmentationResult] = Field(description="One entry per input image, in order.")


# ---------------------------------------------------------------- metadata and health


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


class Health(_Schema):
    status: Literal["ok"]


class Readiness(_Schema):
    ready: bool
    models: dict[str, bool]
    errors: dict[str, str] = Field(default_factory=dict)


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
    stage: str = Field(description="What runs now: an explanation method.")
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


class ExplainResultEvent(_Schema):
    """The last line of a successful ``/v1/explain/stream`` answer."""

    event: Literal["result"] = "result"
    response: ExplainResponse


class ErrorEvent(_Schema):
    """The last line of a stream that failed after it began (the status was already 200)."""

    event: Literal["error"] = "error"
    status: int = Field(ge=400, le=599, description="The HTTP status the error would have had.")
    error: ErrorDetail


# ---------------------------------------------------------------- understanding views


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


class NoContent(_Schema):
    """The empty answer of a DELETE (204)."""


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


# ---------------------------------------------------------------- audit trail


class AuditImage(_Schema):
    sha256: str
    bytes: int = Field(ge=0)
    width: int | None = None
    height: int | None = None


class AuditRecord(_Schema):
    """One recorded prediction: what an auditor cites and compares."""

    record_id: str = Field(description="The record's own id, unique: the service makes it.")
    request_id: str = Field(
        description="The caller's correlation id (x-request-id, or one the service made); "
        "a caller that sends one id several times has several records with it."
    )
    created: float = Field(description="Unix time, seconds.")
    created_at: str = Field(description="The same, ISO 8601 UTC.")
    endpoint: str
    model: str
    model_version: str
    caller: str | None = Field(description="The API key's name (never the key); none without keys.")
    latency_ms: float
    params: dict[str, Any]
    images: list[AuditImage]
    labels: list[str] = Field(description="Every label the answer named.")
    response: dict[str, Any] = Field(description="The answer without masks, label maps or embedding vectors.")
    image_kept: bool = Field(description="Whether the input images were kept (so it can be explained).")


class AuditPage(_Schema):
    records: list[AuditRecord] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; none at the end.")


class AuditStatus(_Schema):
    """The audit writer of the ingress replica that answered."""

    enabled: bool
    store: Literal["sqlite", "postgresql"]
    on_failure: Literal["open", "closed"]
    buffered: int
    written: int
    dropped: dict[str, int]
    deleted: dict[str, int]
    failing: bool
    last_error: str | None = None


class AuditExplainRequest(_Schema):
    """``POST /v1/audit/predictions/{record_id}/explain``: which methods and target, as /v1/explain."""

    image: int = Field(default=0, ge=0, description="Which image of the recorded request.")
    methods: list[ExplainMethod] = Field(min_length=1, max_length=11)
    target_class: int | None = Field(default=None, ge=0)
    target_label: str | None = None
    target_text: str | None = None
    target_box_index: int | None = Field(default=None, ge=0)
    target_box: list[float] | None = Field(default=None, min_length=4, max_length=4)
    layer: str | None = None
    steps: int | None = Field(default=None, ge=2, le=512)
    samples: int | None = Field(default=None, ge=1, le=256)
    seed: int | None = Field(default=None, ge=0)
    patch: int | None = Field(default=None, ge=1, le=4096)
    stride: int | None = Field(default=None, ge=1, le=4096)
    masks: int | None = Field(default=None, ge=8, le=8192)
    fidelity: bool | None = None
    overlay: bool | None = None
