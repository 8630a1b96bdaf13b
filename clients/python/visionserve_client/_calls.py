"""What each API call sends: built once here, sent by the sync and the async client alike."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Generic, TypeVar, Union, cast
from urllib.parse import quote

from pydantic import BaseModel

from visionserve_client.types import (
    AuditPage,
    AuditRecord,
    AuditStatus,
    ClassifyResponse,
    ClassModelResponse,
    DeepDreamResponse,
    DetectResponse,
    EmbeddingDType,
    EmbedImageResponse,
    EmbedTextRequest,
    EmbedTextResponse,
    ExplainMethod,
    ExplainResponse,
    FeatureMapResponse,
    FiltersResponse,
    Health,
    InversionResponse,
    ModelInfo,
    ModelLabels,
    ModelList,
    NeighboursResponse,
    NoContent,
    Readiness,
    ReferenceSetInfo,
    ReferenceSetList,
    RolloutResponse,
    SegmentResponse,
    TopPatchesResponse,
    ZeroShotResponse,
)

ImageInput = Union[str, "os.PathLike[str]", bytes, IO[bytes], Any]
"""A path to an image file, its bytes, a binary file object, a PIL.Image, or a numpy array
(H, W) or (H, W, 3|4) of uint8. Pixels are sent PNG-encoded (lossless), never raw."""

Images = ImageInput | Sequence[ImageInput]
T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    schema: type[T]
    files: list[tuple[str, tuple[str, bytes]]] | None = None
    data: dict[str, Any] | None = None
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    """Query-string parameters."""

    def request_kwargs(self) -> dict[str, Any]:
        sent = {"files": self.files, "data": self.data, "json": self.json, "params": self.params}
        return {key: value for key, value in sent.items() if value is not None}


def _encoded_png(image: Any) -> bytes:
    """PIL images and numpy arrays as PNG bytes; Pillow is imported only for these."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the environment
        raise TypeError("sending PIL images or numpy arrays needs Pillow: pip install pillow") from None
    if not isinstance(image, Image.Image):
        shape = getattr(image, "shape", None)
        dtype = str(getattr(image, "dtype", ""))
        if (
            dtype != "uint8"
            or shape is None
            or not (len(shape) == 2 or (len(shape) == 3 and shape[2] in (3, 4)))
        ):
            raise TypeError(f"numpy images must be uint8 (H, W) or (H, W, 3|4), got {dtype} {shape}")
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _read_image(image: ImageInput) -> tuple[str, bytes]:
    if isinstance(image, bytes):
        return "image", image
    module = type(image).__module__
    if module.startswith(("PIL.", "numpy")):
        return "image.png", _encoded_png(image)
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return path.name, path.read_bytes()
    if hasattr(image, "read"):
        data = image.read()
        if not isinstance(data, bytes):
            raise TypeError("file objects must be opened in binary mode ('rb')")
        return Path(str(getattr(image, "name", "image"))).name, data
    raise TypeError(
        "expected a path, bytes, a binary file object, a PIL image or a numpy array, "
        f"got {type(image).__name__}"
    )


def _files(images: Images) -> list[tuple[str, tuple[str, bytes]]]:
    # A str (and an array) is a Sequence too: only lists and tuples mean "several images".
    many = list(images) if isinstance(images, (list, tuple)) else [cast(ImageInput, images)]
    return [("images", _read_image(image)) for image in many]


def _form(**params: Any) -> dict[str, Any]:
    """Multipart text fields; a list becomes repeated fields."""
    return {
        key: [str(v) for v in value] if isinstance(value, list) else str(value)
        for key, value in params.items()
        if value is not None
    }


def _segment(value: str) -> str:
    """``value`` as one path segment: a caller's request_id (or a mistyped model name) may hold
    '/', '?' or '#', which would otherwise change the path asked for."""
    return quote(value, safe="")


def _segment_form(
    model: str | None,
    *,
    classes: Sequence[str] | None,
    include_masks: bool | None,
    include_label_map: bool | None,
    include_scores: bool | None,
    score_threshold: float | None,
    mask_threshold: float | None,
    max_detections: int | None,
) -> dict[str, Any]:
    flags = {
        "include_masks": include_masks,
        "include_label_map": include_label_map,
        "include_scores": include_scores,
    }
    return _form(
        model=model,
        classes=list(classes) if classes is not None else None,
        score_threshold=score_threshold,
        mask_threshold=mask_threshold,
        max_detections=max_detections,
        **{k: str(v).lower() for k, v in flags.items() if v is not None},
    )


def _zero_shot_form(
    model: str | None,
    *,
    labels: Sequence[str] | None,
    label_set: str | None,
    templates: Sequence[str] | None,
    top_k: int | None,
) -> dict[str, Any]:
    # Labels may hold commas: send them as repeated fields, never joined.
    form: dict[str, Any] = _form(model=model, label_set=label_set, top_k=top_k)
    if labels is not None:
        form["labels"] = list(labels)
    if templates is not None:
        form["templates"] = list(templates)
    return form


def classify(images: Images, model: str | None, top_k: int | None) -> Call[ClassifyResponse]:
    return Call("POST", "/v1/classify", ClassifyResponse, _files(images), _form(model=model, top_k=top_k))


def detect(
    images: Images,
    model: str | None,
    score_threshold: float | None,
    iou_threshold: float | None,
    max_detections: int | None,
) -> Call[DetectResponse]:
    form = _form(
        model=model,
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
        max_detections=max_detections,
    )
    return Call("POST", "/v1/detect", DetectResponse, _files(images), form)


def segment(images: Images, model: str | None, **options: Any) -> Call[SegmentResponse]:
    return Call("POST", "/v1/segment", SegmentResponse, _files(images), _segment_form(model, **options))


def embed_image(images: Images, model: str | None, dtype: EmbeddingDType | None) -> Call[EmbedImageResponse]:
    return Call(
        "POST", "/v1/embed/image", EmbedImageResponse, _files(images), _form(model=model, dtype=dtype)
    )


def embed_text(
    texts: Sequence[str], model: str | None, dtype: EmbeddingDType | None
) -> Call[EmbedTextResponse]:
    body = EmbedTextRequest(texts=list(texts), model=model, dtype=dtype)
    return Call("POST", "/v1/embed/text", EmbedTextResponse, json=body.model_dump(exclude_none=True))


def zero_shot(images: Images, model: str | None, **options: Any) -> Call[ZeroShotResponse]:
    return Call("POST", "/v1/zero-shot", ZeroShotResponse, _files(images), _zero_shot_form(model, **options))


def explain(
    image: ImageInput, model: str | None, methods: Sequence[ExplainMethod], **options: Any
) -> Call[ExplainResponse]:
    form = _form(model=model, **options)
    form["methods"] = list(methods)
    for flag in ("fidelity", "overlay", "input_map"):
        if options.get(flag) is not None:
            form[flag] = str(options[flag]).lower()
    if options.get("target_box") is not None:
        form["target_box"] = [str(v) for v in options["target_box"]]
    return Call("POST", "/v1/explain", ExplainResponse, _files(image), form)


def models() -> Call[ModelList]:
    return Call("GET", "/v1/models", ModelList)


def model(name: str) -> Call[ModelInfo]:
    return Call("GET", f"/v1/models/{_segment(name)}", ModelInfo)


def labels(name: str) -> Call[ModelLabels]:
    return Call("GET", f"/v1/models/{_segment(name)}/labels", ModelLabels)


def health() -> Call[Health]:
    return Call("GET", "/healthz", Health)


def ready() -> Call[Readiness]:
    return Call("GET", "/readyz", Readiness)


# ---------------------------------------------------------------- understanding views


def _json(**params: Any) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


def understand_filters(model: str | None) -> Call[FiltersResponse]:
    return Call("GET", "/v1/understand/filters", FiltersResponse, params=_json(model=model))


def create_reference_set(name: str, images: Images) -> Call[ReferenceSetInfo]:
    return Call("POST", "/v1/understand/reference-sets", ReferenceSetInfo, _files(images), {"name": name})


def reference_sets() -> Call[ReferenceSetList]:
    return Call("GET", "/v1/understand/reference-sets", ReferenceSetList)


def reference_set(set_id: str) -> Call[ReferenceSetInfo]:
    return Call("GET", f"/v1/understand/reference-sets/{set_id}", ReferenceSetInfo)


def delete_reference_set(set_id: str) -> Call[NoContent]:
    return Call("DELETE", f"/v1/understand/reference-sets/{set_id}", NoContent)


def neighbours(reference_set: str, image: ImageInput | None, **options: Any) -> Call[NeighboursResponse]:
    path = "/v1/understand/neighbours"
    if image is None:
        return Call("POST", path, NeighboursResponse, json=_json(reference_set=reference_set, **options))
    return Call(
        "POST", path, NeighboursResponse, _files(image), _form(reference_set=reference_set, **options)
    )


def feature_map(reference_set: str, **options: Any) -> Call[FeatureMapResponse]:
    body = _json(reference_set=reference_set, **options)
    return Call("POST", "/v1/understand/map", FeatureMapResponse, json=body)


def top_patches(reference_set: str, channel: int, **options: Any) -> Call[TopPatchesResponse]:
    body = _json(reference_set=reference_set, channel=channel, **options)
    return Call("POST", "/v1/understand/top-patches", TopPatchesResponse, json=body)


def class_model(**options: Any) -> Call[ClassModelResponse]:
    return Call("POST", "/v1/understand/class-model", ClassModelResponse, json=_json(**options))


def inversion(image: ImageInput, **options: Any) -> Call[InversionResponse]:
    return Call("POST", "/v1/understand/inversion", InversionResponse, _files(image), _form(**options))


def deepdream(image: ImageInput, **options: Any) -> Call[DeepDreamResponse]:
    return Call("POST", "/v1/understand/deepdream", DeepDreamResponse, _files(image), _form(**options))


def attention_rollout(image: ImageInput, **options: Any) -> Call[RolloutResponse]:
    path = "/v1/understand/attention-rollout"
    return Call("POST", path, RolloutResponse, _files(image), _form(**options))


# ---------------------------------------------------------------- audit trail


def audit_predictions(**filters: Any) -> Call[AuditPage]:
    return Call("GET", "/v1/audit/predictions", AuditPage, params=_json(**filters))


def audit_prediction(record_id: str) -> Call[AuditRecord]:
    return Call("GET", f"/v1/audit/predictions/{_segment(record_id)}", AuditRecord)


def explain_recorded(record_id: str, **options: Any) -> Call[ExplainResponse]:
    path = f"/v1/audit/predictions/{_segment(record_id)}/explain"
    return Call("POST", path, ExplainResponse, json=_json(**options))


def audit_status() -> Call[AuditStatus]:
    return Call("GET", "/v1/audit/status", AuditStatus)
