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

The schemas live in modules by concern (``common``, ``predictions``, ``explanations``,
``understanding``, ``audit``, ``models``); every name is importable from here.
"""

from __future__ import annotations

# Re-exported: ``types.BaseModel`` and the typing names were importable from here before.
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from visionserve_client.types.audit import (
    AuditExplainRequest,
    AuditImage,
    AuditPage,
    AuditRecord,
    AuditStatus,
)
from visionserve_client.types.common import (
    MAX_TOP_K,
    ErrorDetail,
    ErrorEvent,
    ErrorResponse,
    ImageSize,
    NoContent,
    ProgressEvent,
    TaskName,
)
from visionserve_client.types.explanations import (
    ExplainMethod,
    ExplainRequest,
    ExplainResponse,
    ExplainResult,
    ExplainResultEvent,
    ExplainTarget,
    Fidelity,
    FloatMap,
    MethodExplanation,
)
from visionserve_client.types.models import (
    Health,
    ModelInfo,
    ModelList,
    Readiness,
)
from visionserve_client.types.predictions import (
    MAX_ZERO_SHOT_LABELS,
    RLE,
    Classification,
    ClassifyRequest,
    ClassifyResponse,
    ClassScore,
    Detection,
    DetectionResult,
    DetectRequest,
    DetectResponse,
    EmbeddingDType,
    EmbedImageRequest,
    EmbedImageResponse,
    EmbedTextRequest,
    EmbedTextResponse,
    ImageEmbedding,
    Instance,
    InstanceSegmentation,
    LabelScore,
    SegmentationResult,
    SegmentClass,
    SegmentRequest,
    SegmentResponse,
    SemanticSegmentation,
    TextEmbedding,
    ZeroShotRequest,
    ZeroShotResponse,
    ZeroShotResult,
)
from visionserve_client.types.understanding import (
    ClassModelRequest,
    ClassModelResponse,
    ClassRef,
    DeepDreamRequest,
    DeepDreamResponse,
    FeatureMapRequest,
    FeatureMapResponse,
    FiltersResponse,
    FloatArray,
    InversionRequest,
    InversionResponse,
    MapPoint,
    Neighbour,
    NeighbourList,
    NeighboursRequest,
    NeighboursResponse,
    Patch,
    ReferenceItem,
    ReferenceSetInfo,
    ReferenceSetList,
    ReferenceSetRequest,
    RolloutRequest,
    RolloutResponse,
    TopPatchesRequest,
    TopPatchesResponse,
    UnderstandResultEvent,
)

__all__ = [
    "MAX_TOP_K",
    "MAX_ZERO_SHOT_LABELS",
    "RLE",
    "Annotated",
    "Any",
    "AuditExplainRequest",
    "AuditImage",
    "AuditPage",
    "AuditRecord",
    "AuditStatus",
    "BaseModel",
    "ClassModelRequest",
    "ClassModelResponse",
    "ClassRef",
    "ClassScore",
    "Classification",
    "ClassifyRequest",
    "ClassifyResponse",
    "ConfigDict",
    "DeepDreamRequest",
    "DeepDreamResponse",
    "DetectRequest",
    "DetectResponse",
    "Detection",
    "DetectionResult",
    "EmbedImageRequest",
    "EmbedImageResponse",
    "EmbedTextRequest",
    "EmbedTextResponse",
    "EmbeddingDType",
    "ErrorDetail",
    "ErrorEvent",
    "ErrorResponse",
    "ExplainMethod",
    "ExplainRequest",
    "ExplainResponse",
    "ExplainResult",
    "ExplainResultEvent",
    "ExplainTarget",
    "FeatureMapRequest",
    "FeatureMapResponse",
    "Fidelity",
    "Field",
    "FiltersResponse",
    "FloatArray",
    "FloatMap",
    "Health",
    "ImageEmbedding",
    "ImageSize",
    "Instance",
    "InstanceSegmentation",
    "InversionRequest",
    "InversionResponse",
    "LabelScore",
    "Literal",
    "MapPoint",
    "MethodExplanation",
    "ModelInfo",
    "ModelList",
    "Neighbour",
    "NeighbourList",
    "NeighboursRequest",
    "NeighboursResponse",
    "NoContent",
    "Patch",
    "ProgressEvent",
    "Readiness",
    "ReferenceItem",
    "ReferenceSetInfo",
    "ReferenceSetList",
    "ReferenceSetRequest",
    "RolloutRequest",
    "RolloutResponse",
    "SegmentClass",
    "SegmentRequest",
    "SegmentResponse",
    "SegmentationResult",
    "SemanticSegmentation",
    "TaskName",
    "TextEmbedding",
    "TopPatchesRequest",
    "TopPatchesResponse",
    "UnderstandResultEvent",
    "ZeroShotRequest",
    "ZeroShotResponse",
    "ZeroShotResult",
]
