"""Predictions: what /v1/classify, /v1/detect, /v1/segment, /v1/embed/* and /v1/zero-shot take
and answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from visionserve_client.types.common import MAX_TOP_K, ImageSize, _Response, _Schema

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


# ---------------------------------------------------------------- results


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


class SegmentResponse(_Response):
    results: list[SegmentationResult] = Field(description="One entry per input image, in order.")
