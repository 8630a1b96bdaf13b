"""Sync and async clients for the VisionServe HTTP API.

``VisionServe`` and ``AsyncVisionServe`` are twins: the same methods, the same keyword-only
options, the same typed results. Images go over the wire compressed, as multipart files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, TypeVar, Union, cast

import httpx
from pydantic import BaseModel, ValidationError

from visionserve_client.errors import ConnectionFailed, VisionServeError, error_for_status
from visionserve_client.types import (
    ClassifyResponse,
    DetectResponse,
    EmbeddingDType,
    EmbedImageResponse,
    EmbedTextRequest,
    EmbedTextResponse,
    Health,
    ModelInfo,
    ModelList,
    Readiness,
    SegmentResponse,
    ZeroShotResponse,
)

ImageInput = Union[str, "os.PathLike[str]", bytes, IO[bytes]]
"""A path to an image file, its bytes, or a binary file object."""

DEFAULT_TIMEOUT = 60.0
_T = TypeVar("_T", bound=BaseModel)


def _read_image(image: ImageInput) -> tuple[str, bytes]:
    if isinstance(image, bytes):
        return "image", image
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return path.name, path.read_bytes()
    if hasattr(image, "read"):
        data = image.read()
        if not isinstance(data, bytes):
            raise TypeError("file objects must be opened in binary mode ('rb')")
        return Path(str(getattr(image, "name", "image"))).name, data
    raise TypeError(f"expected a path, bytes or a binary file object, got {type(image).__name__}")


def _files(images: ImageInput | Sequence[ImageInput]) -> list[tuple[str, tuple[str, bytes]]]:
    # A str is a Sequence too: only lists and tuples mean "several images".
    many = list(images) if isinstance(images, (list, tuple)) else [cast(ImageInput, images)]
    return [("images", _read_image(image)) for image in many]


def _form(**params: Any) -> dict[str, Any]:
    """Multipart text fields; a list becomes repeated fields."""
    return {
        key: [str(v) for v in value] if isinstance(value, list) else str(value)
        for key, value in params.items()
        if value is not None
    }


def _segment_form(
    model: str | None,
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


def _parse(response: httpx.Response, schema: type[_T]) -> _T:
    if response.status_code >= 400:
        try:
            body = response.json()["error"]
            code, message, request_id = body["code"], body["message"], body["request_id"]
        except (ValueError, KeyError, TypeError):
            code, message = "http_error", response.text[:500] or response.reason_phrase
            request_id = response.headers.get("x-request-id", "")
        raise error_for_status(response.status_code, code, message, request_id)
    try:
        return schema.model_validate_json(response.content)
    except ValidationError as exc:
        raise VisionServeError(f"unexpected response body for {schema.__name__}: {exc}") from exc


class VisionServe:
    """Blocking client. Use as a context manager, or call ``close()``."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._http = http_client or httpx.Client(base_url=base_url, timeout=timeout)

    def __enter__(self) -> VisionServe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, schema: type[_T], **kwargs: Any) -> _T:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{method} {path}: {exc}") from exc
        return _parse(response, schema)

    def classify(
        self,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ClassifyResponse:
        """Top-k classes for each image, in input order."""
        return self._request(
            "POST",
            "/v1/classify",
            ClassifyResponse,
            files=_files(images),
            data=_form(model=model, top_k=top_k),
            timeout=timeout or self._http.timeout,
        )

    def detect(
        self,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str | None = None,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_detections: int | None = None,
        timeout: float | None = None,
    ) -> DetectResponse:
        """Detected objects for each image, in input order."""
        params = _form(
            model=model,
            score_threshold=score_threshold,
            iou_threshold=iou_threshold,
            max_detections=max_detections,
        )
        return self._request(
            "POST",
            "/v1/detect",
            DetectResponse,
            files=_files(images),
            data=params,
            timeout=timeout or self._http.timeout,
        )

    def segment(
        self,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str | None = None,
        classes: Sequence[str] | None = None,
        include_masks: bool | None = None,
        include_label_map: bool | None = None,
        include_scores: bool | None = None,
        score_threshold: float | None = None,
        mask_threshold: float | None = None,
        max_detections: int | None = None,
        timeout: float | None = None,
    ) -> SegmentResponse:
        """Semantic classes or object instances with RLE masks for each image, in input order."""
        return self._request(
            "POST",
            "/v1/segment",
            SegmentResponse,
            files=_files(images),
            data=_segment_form(
                model,
                classes,
                include_masks,
                include_label_map,
                include_scores,
                score_threshold,
                mask_threshold,
                max_detections,
            ),
            timeout=timeout or self._http.timeout,
        )

    def embed_image(
        self,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str | None = None,
        dtype: EmbeddingDType | None = None,
        timeout: float | None = None,
    ) -> EmbedImageResponse:
        """L2-normalised image embeddings (CLIP models), in input order."""
        return self._request(
            "POST",
            "/v1/embed/image",
            EmbedImageResponse,
            files=_files(images),
            data=_form(model=model, dtype=dtype),
            timeout=timeout or self._http.timeout,
        )

    def embed_text(
        self,
        texts: Sequence[str],
        *,
        model: str | None = None,
        dtype: EmbeddingDType | None = None,
        timeout: float | None = None,
    ) -> EmbedTextResponse:
        """L2-normalised text embeddings (CLIP models), in input order."""
        body = EmbedTextRequest(texts=list(texts), model=model, dtype=dtype)
        return self._request(
            "POST",
            "/v1/embed/text",
            EmbedTextResponse,
            json=body.model_dump(exclude_none=True),
            timeout=timeout or self._http.timeout,
        )

    def zero_shot(
        self,
        images: ImageInput | Sequence[ImageInput],
        *,
        labels: Sequence[str] | None = None,
        label_set: str | None = None,
        templates: Sequence[str] | None = None,
        model: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ZeroShotResponse:
        """Scores of each image against ``labels`` (or a configured ``label_set``)."""
        return self._request(
            "POST",
            "/v1/zero-shot",
            ZeroShotResponse,
            files=_files(images),
            data=_zero_shot_form(model, labels, label_set, templates, top_k),
            timeout=timeout or self._http.timeout,
        )

    def models(self, *, timeout: float | None = None) -> ModelList:
        return self._request("GET", "/v1/models", ModelList, timeout=timeout or self._http.timeout)

    def model(self, name: str, *, timeout: float | None = None) -> ModelInfo:
        return self._request("GET", f"/v1/models/{name}", ModelInfo, timeout=timeout or self._http.timeout)

    def health(self, *, timeout: float | None = None) -> Health:
        return self._request("GET", "/healthz", Health, timeout=timeout or self._http.timeout)

    def ready(self, *, timeout: float | None = None) -> Readiness:
        """Readiness of every model; raises ``UnavailableError`` while one is not ready."""
        return self._request("GET", "/readyz", Readiness, timeout=timeout or self._http.timeout)


class AsyncVisionServe:
    """Asyncio client with the same methods as ``VisionServe``."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = http_client or httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def __aenter__(self) -> AsyncVisionServe:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, schema: type[_T], **kwargs: Any) -> _T:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{method} {path}: {exc}") from exc
        return _parse(response, schema)

    async def classify(
        self,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ClassifyResponse:
        """Top-k classes for each image, in input order."""
        return await self._request(
            "POST",
            "/v1/classify",
            ClassifyResponse,
            files=_files(images),
            data=_form(model=model, top_k=top_k),
            timeout=timeout or self._http.timeout,
        )

    async def detect(
        self,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str | None = None,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_detections: int | None = None,
        timeout: float | None = None,
    ) -> DetectResponse:
        """Detected objects for each image, in input order."""
        params = _form(
            model=model,
            score_threshold=score_threshold,
            iou_threshold=iou_threshold,
            max_detections=max_detections,
        )
        return await self._request(
            "POST",
            "/v1/detect",
            DetectResponse,
            files=_files(images),
            data=params,
            timeout=timeout or self._http.timeout,
        )

    async def segment(
        self,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str | None = None,
        classes: Sequence[str] | None = None,
        include_masks: bool | None = None,
        include_label_map: bool | None = None,
        include_scores: bool | None = None,
        score_threshold: float | None = None,
        mask_threshold: float | None = None,
        max_detections: int | None = None,
        timeout: float | None = None,
    ) -> SegmentResponse:
        """Semantic classes or object instances with RLE masks for each image, in input order."""
        return await self._request(
            "POST",
            "/v1/segment",
            SegmentResponse,
            files=_files(images),
            data=_segment_form(
                model,
                classes,
                include_masks,
                include_label_map,
                include_scores,
                score_threshold,
                mask_threshold,
                max_detections,
            ),
            timeout=timeout or self._http.timeout,
        )

    async def embed_image(
        self,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str | None = None,
        dtype: EmbeddingDType | None = None,
        timeout: float | None = None,
    ) -> EmbedImageResponse:
        """L2-normalised image embeddings (CLIP models), in input order."""
        return await self._request(
            "POST",
            "/v1/embed/image",
            EmbedImageResponse,
            files=_files(images),
            data=_form(model=model, dtype=dtype),
            timeout=timeout or self._http.timeout,
        )

    async def embed_text(
        self,
        texts: Sequence[str],
        *,
        model: str | None = None,
        dtype: EmbeddingDType | None = None,
        timeout: float | None = None,
    ) -> EmbedTextResponse:
        """L2-normalised text embeddings (CLIP models), in input order."""
        body = EmbedTextRequest(texts=list(texts), model=model, dtype=dtype)
        return await self._request(
            "POST",
            "/v1/embed/text",
            EmbedTextResponse,
            json=body.model_dump(exclude_none=True),
            timeout=timeout or self._http.timeout,
        )

    async def zero_shot(
        self,
        images: ImageInput | Sequence[ImageInput],
        *,
        labels: Sequence[str] | None = None,
        label_set: str | None = None,
        templates: Sequence[str] | None = None,
        model: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ZeroShotResponse:
        """Scores of each image against ``labels`` (or a configured ``label_set``)."""
        return await self._request(
            "POST",
            "/v1/zero-shot",
            ZeroShotResponse,
            files=_files(images),
            data=_zero_shot_form(model, labels, label_set, templates, top_k),
            timeout=timeout or self._http.timeout,
        )

    async def models(self, *, timeout: float | None = None) -> ModelList:
        return await self._request("GET", "/v1/models", ModelList, timeout=timeout or self._http.timeout)

    async def model(self, name: str, *, timeout: float | None = None) -> ModelInfo:
        return await self._request(
            "GET", f"/v1/models/{name}", ModelInfo, timeout=timeout or self._http.timeout
        )

    async def health(self, *, timeout: float | None = None) -> Health:
        return await self._request("GET", "/healthz", Health, timeout=timeout or self._http.timeout)

    async def ready(self, *, timeout: float | None = None) -> Readiness:
        """Readiness of every model; raises ``UnavailableError`` while one is not ready."""
        return await self._request("GET", "/readyz", Readiness, timeout=timeout or self._http.timeout)
