"""Sync and async clients for the VisionServe HTTP API.

``VisionServe`` and ``AsyncVisionServe`` are twins: the same methods, the same keyword-only
options, the same typed results (each request is built once, in ``_calls``). Images go over
the wire compressed, as multipart files.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import httpx
from pydantic import ValidationError

from visionserve_client import _calls as calls
from visionserve_client._calls import Call, ImageInput, Images, T
from visionserve_client.errors import ConnectionFailed, RequestTimeout, VisionServeError, error_for_status
from visionserve_client.retries import NO_RETRIES, RetryPolicy
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
    EmbedTextResponse,
    ErrorEvent,
    ExplainMethod,
    ExplainResponse,
    FeatureMapResponse,
    FiltersResponse,
    Health,
    InversionResponse,
    ModelInfo,
    ModelList,
    NeighboursResponse,
    ProgressEvent,
    Readiness,
    ReferenceSetInfo,
    ReferenceSetList,
    RolloutResponse,
    SegmentResponse,
    TopPatchesResponse,
    ZeroShotResponse,
)

ProgressCallback = Callable[[ProgressEvent], None]
"""Hears a long request's progress: called with each ProgressEvent as it arrives."""

DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = RetryPolicy()

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "NO_RETRIES",
    "AsyncVisionServe",
    "ImageInput",
    "ProgressCallback",
    "VisionServe",
]


def _parse(response: httpx.Response, schema: type[T]) -> T:
    if response.status_code == 204:
        return schema.model_validate({})
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


def _streamed_result(lines: Iterable[str], on_progress: ProgressCallback, schema: type[T]) -> T | None:
    """Read NDJSON lines of a stream: progress is handed on, an error event raised as the API
    error it stands for, and the result returned as ``schema`` (None while it has not come)."""
    for line in lines:
        if not line.strip():
            continue
        try:
            kind = json.loads(line).get("event")
            if kind == "progress":
                on_progress(ProgressEvent.model_validate_json(line))
            elif kind == "error":
                event = ErrorEvent.model_validate_json(line)
                e = event.error
                raise error_for_status(event.status, e.code, e.message, e.request_id)
            elif kind == "result":
                return schema.model_validate(json.loads(line)["response"])
            else:
                raise VisionServeError(f"unexpected event {kind!r} in the stream")
        except (ValidationError, ValueError, AttributeError) as exc:
            raise VisionServeError(f"unexpected line in the stream: {exc}") from exc
    return None


def _stream_ended(call: Call[Any]) -> VisionServeError:
    return VisionServeError(f"{call.method} {call.path}: the stream ended without a result")


def _transport_error(call: Call[Any], exc: httpx.TransportError) -> ConnectionFailed:
    kind = RequestTimeout if isinstance(exc, httpx.TimeoutException) else ConnectionFailed
    return kind(f"{call.method} {call.path}: {type(exc).__name__}: {exc}")


class VisionServe:
    """Blocking client. Use as a context manager, or call ``close()``."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: RetryPolicy = DEFAULT_RETRIES,
        max_connections: int = 100,
        http_client: httpx.Client | None = None,
        api_key: str | None = None,
    ) -> None:
        """``timeout`` applies to each try (a call may take longer when retried); ``retries``
        is the policy for 429/503 answers and connection failures (``NO_RETRIES`` turns it off).
        ``api_key`` is sent as ``Authorization: Bearer`` where the service requires keys."""
        self._http = http_client or httpx.Client(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        if api_key:
            self._http.headers["authorization"] = f"Bearer {api_key}"
        self._retries = retries

    def __enter__(self) -> VisionServe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call[T], timeout: float | None) -> T:
        attempt = 1
        while True:
            try:
                response = self._http.request(
                    call.method, call.path, timeout=timeout or self._http.timeout, **call.request_kwargs()
                )
            except httpx.TransportError as exc:
                wait = self._retries.wait_after_error(exc, call.method, attempt)
                if wait is None:
                    raise _transport_error(call, exc) from exc
            else:
                wait = self._retries.wait_after_status(response, attempt)
                if wait is None:
                    return _parse(response, call.schema)
            time.sleep(wait)
            attempt += 1

    def _stream(self, call: Call[T], timeout: float | None, on_progress: ProgressCallback) -> T:
        """Like ``_send``, for an NDJSON answer: retried only until the stream begins."""
        attempt = 1
        while True:
            try:
                with self._http.stream(
                    call.method, call.path, timeout=timeout or self._http.timeout, **call.request_kwargs()
                ) as response:
                    if response.status_code == 200:
                        result = _streamed_result(response.iter_lines(), on_progress, call.schema)
                        if result is None:
                            raise _stream_ended(call)
                        return result
                    response.read()
                    wait = self._retries.wait_after_status(response, attempt)
                    if wait is None:
                        return _parse(response, call.schema)  # raises the API's error
            except httpx.TransportError as exc:
                wait = self._retries.wait_after_error(exc, call.method, attempt)
                if wait is None:
                    raise _transport_error(call, exc) from exc
            time.sleep(wait)
            attempt += 1

    def classify(
        self,
        images: Images,
        *,
        model: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ClassifyResponse:
        """Top-k classes for each image, in input order."""
        return self._send(calls.classify(images, model, top_k), timeout)

    def detect(
        self,
        images: Images,
        *,
        model: str | None = None,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_detections: int | None = None,
        timeout: float | None = None,
    ) -> DetectResponse:
        """Detected objects for each image, in input order; boxes in original pixels."""
        return self._send(
            calls.detect(images, model, score_threshold, iou_threshold, max_detections), timeout
        )

    def segment(
        self,
        images: Images,
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
        return self._send(
            calls.segment(
                images,
                model,
                classes=classes,
                include_masks=include_masks,
                include_label_map=include_label_map,
                include_scores=include_scores,
                score_threshold=score_threshold,
                mask_threshold=mask_threshold,
                max_detections=max_detections,
            ),
            timeout,
        )

    def embed_image(
        self,
        images: Images,
        *,
        model: str | None = None,
        dtype: EmbeddingDType | None = None,
        timeout: float | None = None,
    ) -> EmbedImageResponse:
        """L2-normalised image embeddings (CLIP models), in input order."""
        return self._send(calls.embed_image(images, model, dtype), timeout)

    def embed_text(
        self,
        texts: Sequence[str],
        *,
        model: str | None = None,
        dtype: EmbeddingDType | None = None,
        timeout: float | None = None,
    ) -> EmbedTextResponse:
        """L2-normalised text embeddings (CLIP models), in input order."""
        return self._send(calls.embed_text(texts, model, dtype), timeout)

    def zero_shot(
        self,
        images: Images,
        *,
        labels: Sequence[str] | None = None,
        label_set: str | None = None,
        templates: Sequence[str] | None = None,
        model: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ZeroShotResponse:
        """Scores of each image against ``labels`` (or a configured ``label_set``)."""
        return self._send(
            calls.zero_shot(
                images, model, labels=labels, label_set=label_set, templates=templates, top_k=top_k
            ),
            timeout,
        )

    def explain(
        self,
        image: ImageInput,
        *,
        methods: Sequence[ExplainMethod] = ("gradcam",),
        model: str | None = None,
        target_class: int | None = None,
        target_label: str | None = None,
        target_text: str | None = None,
        target_box_index: int | None = None,
        target_box: Sequence[float] | None = None,
        layer: str | None = None,
        fidelity: bool | None = None,
        overlay: bool | None = None,
        options: Mapping[str, float | int | str] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> ExplainResponse:
        """Why the model decided: a map per method for a class, box, segment or text query.

        ``options`` carries method settings by name (steps, samples, patch, stride, masks...).
        ``on_progress`` hears each method start and the batches of the long ones (occlusion,
        RISE, Integrated Gradients...) while they run; the answer is the same.
        """
        call = calls.explain(
            image,
            model,
            methods,
            target_class=target_class,
            target_label=target_label,
            target_text=target_text,
            target_box_index=target_box_index,
            target_box=list(target_box) if target_box is not None else None,
            layer=layer,
            fidelity=fidelity,
            overlay=overlay,
            **dict(options or {}),
        )
        if on_progress is not None:
            return self._stream(replace(call, path="/v1/explain/stream"), timeout, on_progress)
        return self._send(call, timeout)

    def models(
        self,
        *,
        timeout: float | None = None,
    ) -> ModelList:
        """Every model and pipeline with its metadata."""
        return self._send(calls.models(), timeout)

    def model(
        self,
        name: str,
        *,
        timeout: float | None = None,
    ) -> ModelInfo:
        """One model's or pipeline's metadata."""
        return self._send(calls.model(name), timeout)

    # ------------------------------------------------------------ audit trail

    def audit_predictions(
        self,
        *,
        model: str | None = None,
        model_version: str | None = None,
        label: str | None = None,
        since: str | float | None = None,
        until: str | float | None = None,
        request_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        timeout: float | None = None,
    ) -> AuditPage:
        """Recorded predictions, newest first (``since``/``until``: ISO 8601 or Unix seconds;
        ``request_id``: every record of that caller's id); pass the page's ``next_cursor`` as
        ``cursor`` for the next page."""
        filters = {
            "model": model,
            "model_version": model_version,
            "label": label,
            "since": since,
            "until": until,
            "request_id": request_id,
            "limit": limit,
            "cursor": cursor,
        }
        return self._send(calls.audit_predictions(**filters), timeout)

    def audit_prediction(self, record_id: str, *, timeout: float | None = None) -> AuditRecord:
        """One recorded prediction, by its record_id, or by the request_id its response carried
        when no other request sent the same one (else ``ConflictError``, 409, naming the
        record_ids; ``audit_predictions(request_id=...)`` lists them)."""
        return self._send(calls.audit_prediction(record_id), timeout)

    def explain_recorded(
        self,
        record_id: str,
        *,
        methods: Sequence[ExplainMethod] = ("gradcam",),
        image: int = 0,
        target_class: int | None = None,
        target_label: str | None = None,
        target_text: str | None = None,
        target_box: Sequence[float] | None = None,
        options: Mapping[str, float | int | str] | None = None,
        timeout: float | None = None,
    ) -> ExplainResponse:
        """Explain a recorded prediction (its record_id, or a request_id that names only it) from
        its kept image with the same model version."""
        body = {
            "methods": list(methods),
            "image": image,
            "target_class": target_class,
            "target_label": target_label,
            "target_text": target_text,
            "target_box": list(target_box) if target_box is not None else None,
            **dict(options or {}),
        }
        return self._send(calls.explain_recorded(record_id, **body), timeout)

    def audit_status(self, *, timeout: float | None = None) -> AuditStatus:
        """The answering ingress replica's audit writer: written, dropped, failing."""
        return self._send(calls.audit_status(), timeout)

    # ------------------------------------------------------------ understanding views

    def understand_filters(
        self, *, model: str | None = None, timeout: float | None = None
    ) -> FiltersResponse:
        """The first convolution's weights (exactly) and a picture of them."""
        return self._send(calls.understand_filters(model), timeout)

    def create_reference_set(
        self, name: str, images: Images, *, timeout: float | None = None
    ) -> ReferenceSetInfo:
        """Keep a named set of images on the service, for neighbours, maps and top patches."""
        return self._send(calls.create_reference_set(name, images), timeout)

    def reference_sets(self, *, timeout: float | None = None) -> ReferenceSetList:
        return self._send(calls.reference_sets(), timeout)

    def reference_set(self, set_id: str, *, timeout: float | None = None) -> ReferenceSetInfo:
        return self._send(calls.reference_set(set_id), timeout)

    def delete_reference_set(self, set_id: str, *, timeout: float | None = None) -> None:
        self._send(calls.delete_reference_set(set_id), timeout)

    def neighbours(
        self,
        reference_set: str,
        image: ImageInput | None = None,
        *,
        item: int | None = None,
        k: int | None = None,
        metric: Literal["cosine", "l2"] | None = None,
        layer: str | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> NeighboursResponse:
        """The set's nearest images to a query image, or to its own image ``item``."""
        options = {"item": item, "k": k, "metric": metric, "layer": layer, "model": model}
        return self._send(calls.neighbours(reference_set, image, **options), timeout)

    def feature_map(
        self,
        reference_set: str,
        *,
        method: Literal["pca", "tsne"] | None = None,
        layer: str | None = None,
        seed: int | None = None,
        perplexity: float | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> FeatureMapResponse:
        """The set laid out in 2-D (coordinates and a picture with thumbnails)."""
        options = {"method": method, "layer": layer, "seed": seed, "perplexity": perplexity, "model": model}
        return self._send(calls.feature_map(reference_set, **options), timeout)

    def top_patches(
        self,
        reference_set: str,
        channel: int,
        *,
        layer: str | None = None,
        k: int | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> TopPatchesResponse:
        """The set's images that most excite one channel, cropped to the unit's receptive field."""
        return self._send(calls.top_patches(reference_set, channel, layer=layer, k=k, model=model), timeout)

    def class_model(
        self,
        *,
        target_class: int | None = None,
        target_label: str | None = None,
        model: str | None = None,
        options: Mapping[str, float | int] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> ClassModelResponse:
        """An image made to maximise a class (options: steps, learning_rate, l2, jitter,
        blur_every, blur_sigma, seed)."""
        call = calls.class_model(
            target_class=target_class, target_label=target_label, model=model, **dict(options or {})
        )
        return self._maybe_streamed(call, "/v1/understand/class-model/stream", timeout, on_progress)

    def invert(
        self,
        image: ImageInput,
        *,
        layer: str | None = None,
        model: str | None = None,
        options: Mapping[str, float | int] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> InversionResponse:
        """The image rebuilt from a layer's features (options: steps, learning_rate, tv_weight, seed)."""
        call = calls.inversion(image, layer=layer, model=model, **dict(options or {}))
        return self._maybe_streamed(call, "/v1/understand/inversion/stream", timeout, on_progress)

    def deepdream(
        self,
        image: ImageInput,
        *,
        layer: str | None = None,
        model: str | None = None,
        options: Mapping[str, float | int] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> DeepDreamResponse:
        """The image with a layer's activations amplified (options: steps, octaves,
        octave_scale, learning_rate, jitter, seed)."""
        call = calls.deepdream(image, layer=layer, model=model, **dict(options or {}))
        return self._maybe_streamed(call, "/v1/understand/deepdream/stream", timeout, on_progress)

    def attention_rollout(
        self,
        image: ImageInput,
        *,
        model: str | None = None,
        discard_ratio: float | None = None,
        timeout: float | None = None,
    ) -> RolloutResponse:
        """Where a vision transformer's class token draws from."""
        return self._send(calls.attention_rollout(image, model=model, discard_ratio=discard_ratio), timeout)

    def _maybe_streamed(
        self, call: Call[T], stream_path: str, timeout: float | None, on_progress: ProgressCallback | None
    ) -> T:
        if on_progress is None:
            return self._send(call, timeout)
        return self._stream(replace(call, path=stream_path), timeout, on_progress)

    def health(
        self,
        *,
        timeout: float | None = None,
    ) -> Health:
        """The HTTP service is up."""
        return self._send(calls.health(), timeout)

    def ready(
        self,
        *,
        timeout: float | None = None,
    ) -> Readiness:
        """Readiness of every model; raises ``UnavailableError`` while one is not ready."""
        return self._send(calls.ready(), timeout)


class AsyncVisionServe:
    """Asyncio client with the same methods as ``VisionServe``."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: RetryPolicy = DEFAULT_RETRIES,
        max_connections: int = 100,
        http_client: httpx.AsyncClient | None = None,
        api_key: str | None = None,
    ) -> None:
        """``timeout`` applies to each try (a call may take longer when retried); ``retries``
        is the policy for 429/503 answers and connection failures (``NO_RETRIES`` turns it off).
        ``api_key`` is sent as ``Authorization: Bearer`` where the service requires keys."""
        self._http = http_client or httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        if api_key:
            self._http.headers["authorization"] = f"Bearer {api_key}"
        self._retries = retries

    async def __aenter__(self) -> AsyncVisionServe:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call[T], timeout: float | None) -> T:
        attempt = 1
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, timeout=timeout or self._http.timeout, **call.request_kwargs()
                )
            except httpx.TransportError as exc:
                wait = self._retries.wait_after_error(exc, call.method, attempt)
                if wait is None:
                    raise _transport_error(call, exc) from exc
            else:
                wait = self._retries.wait_after_status(response, attempt)
                if wait is None:
                    return _parse(response, call.schema)
            await asyncio.sleep(wait)
            attempt += 1

    async def _stream(self, call: Call[T], timeout: float | None, on_progress: ProgressCallback) -> T:
        """Like ``_send``, for an NDJSON answer: retried only until the stream begins."""
        attempt = 1
        while True:
            try:
                async with self._http.stream(
                    call.method, call.path, timeout=timeout or self._http.timeout, **call.request_kwargs()
                ) as response:
                    if response.status_code == 200:
                        async for line in response.aiter_lines():
                            result = _streamed_result([line], on_progress, call.schema)
                            if result is not None:
                                return result
                        raise _stream_ended(call)
                    await response.aread()
                    wait = self._retries.wait_after_status(response, attempt)
                    if wait is None:
                        return _parse(response, call.schema)
            except httpx.TransportError as exc:
                wait = self._retries.wait_after_error(exc, call.method, attempt)
                if wait is None:
                    raise _transport_error(call, exc) from exc
            await asyncio.sleep(wait)
            attempt += 1

    async def classify(
        self,
        images: Images,
        *,
        model: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ClassifyResponse:
        """Top-k classes for each image, in input order."""
        return await self._send(calls.classify(images, model, top_k), timeout)

    async def detect(
        self,
        images: Images,
        *,
        model: str | None = None,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_detections: int | None = None,
        timeout: float | None = None,
    ) -> DetectResponse:
        """Detected objects for each image, in input order; boxes in original pixels."""
        return await self._send(
            calls.detect(images, model, score_threshold, iou_threshold, max_detections), timeout
        )

    async def segment(
        self,
        images: Images,
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
        return await self._send(
            calls.segment(
                images,
                model,
                classes=classes,
                include_masks=include_masks,
                include_label_map=include_label_map,
                include_scores=include_scores,
                score_threshold=score_threshold,
                mask_threshold=mask_threshold,
                max_detections=max_detections,
            ),
            timeout,
        )

    async def embed_image(
        self,
        images: Images,
        *,
        model: str | None = None,
        dtype: EmbeddingDType | None = None,
        timeout: float | None = None,
    ) -> EmbedImageResponse:
        """L2-normalised image embeddings (CLIP models), in input order."""
        return await self._send(calls.embed_image(images, model, dtype), timeout)

    async def embed_text(
        self,
        texts: Sequence[str],
        *,
        model: str | None = None,
        dtype: EmbeddingDType | None = None,
        timeout: float | None = None,
    ) -> EmbedTextResponse:
        """L2-normalised text embeddings (CLIP models), in input order."""
        return await self._send(calls.embed_text(texts, model, dtype), timeout)

    async def zero_shot(
        self,
        images: Images,
        *,
        labels: Sequence[str] | None = None,
        label_set: str | None = None,
        templates: Sequence[str] | None = None,
        model: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ZeroShotResponse:
        """Scores of each image against ``labels`` (or a configured ``label_set``)."""
        return await self._send(
            calls.zero_shot(
                images, model, labels=labels, label_set=label_set, templates=templates, top_k=top_k
            ),
            timeout,
        )

    async def explain(
        self,
        image: ImageInput,
        *,
        methods: Sequence[ExplainMethod] = ("gradcam",),
        model: str | None = None,
        target_class: int | None = None,
        target_label: str | None = None,
        target_text: str | None = None,
        target_box_index: int | None = None,
        target_box: Sequence[float] | None = None,
        layer: str | None = None,
        fidelity: bool | None = None,
        overlay: bool | None = None,
        options: Mapping[str, float | int | str] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> ExplainResponse:
        """Why the model decided: a map per method for a class, box, segment or text query.

        ``options`` carries method settings by name (steps, samples, patch, stride, masks...).
        ``on_progress`` hears each method start and the batches of the long ones (occlusion,
        RISE, Integrated Gradients...) while they run; the answer is the same.
        """
        call = calls.explain(
            image,
            model,
            methods,
            target_class=target_class,
            target_label=target_label,
            target_text=target_text,
            target_box_index=target_box_index,
            target_box=list(target_box) if target_box is not None else None,
            layer=layer,
            fidelity=fidelity,
            overlay=overlay,
            **dict(options or {}),
        )
        if on_progress is not None:
            return await self._stream(replace(call, path="/v1/explain/stream"), timeout, on_progress)
        return await self._send(call, timeout)

    async def models(
        self,
        *,
        timeout: float | None = None,
    ) -> ModelList:
        """Every model and pipeline with its metadata."""
        return await self._send(calls.models(), timeout)

    async def model(
        self,
        name: str,
        *,
        timeout: float | None = None,
    ) -> ModelInfo:
        """One model's or pipeline's metadata."""
        return await self._send(calls.model(name), timeout)

    # ------------------------------------------------------------ audit trail

    async def audit_predictions(
        self,
        *,
        model: str | None = None,
        model_version: str | None = None,
        label: str | None = None,
        since: str | float | None = None,
        until: str | float | None = None,
        request_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        timeout: float | None = None,
    ) -> AuditPage:
        """Recorded predictions, newest first (``since``/``until``: ISO 8601 or Unix seconds;
        ``request_id``: every record of that caller's id); pass the page's ``next_cursor`` as
        ``cursor`` for the next page."""
        filters = {
            "model": model,
            "model_version": model_version,
            "label": label,
            "since": since,
            "until": until,
            "request_id": request_id,
            "limit": limit,
            "cursor": cursor,
        }
        return await self._send(calls.audit_predictions(**filters), timeout)

    async def audit_prediction(self, record_id: str, *, timeout: float | None = None) -> AuditRecord:
        """One recorded prediction, by its record_id, or by the request_id its response carried
        when no other request sent the same one (else ``ConflictError``, 409, naming the
        record_ids; ``audit_predictions(request_id=...)`` lists them)."""
        return await self._send(calls.audit_prediction(record_id), timeout)

    async def explain_recorded(
        self,
        record_id: str,
        *,
        methods: Sequence[ExplainMethod] = ("gradcam",),
        image: int = 0,
        target_class: int | None = None,
        target_label: str | None = None,
        target_text: str | None = None,
        target_box: Sequence[float] | None = None,
        options: Mapping[str, float | int | str] | None = None,
        timeout: float | None = None,
    ) -> ExplainResponse:
        """Explain a recorded prediction (its record_id, or a request_id that names only it) from
        its kept image with the same model version."""
        body = {
            "methods": list(methods),
            "image": image,
            "target_class": target_class,
            "target_label": target_label,
            "target_text": target_text,
            "target_box": list(target_box) if target_box is not None else None,
            **dict(options or {}),
        }
        return await self._send(calls.explain_recorded(record_id, **body), timeout)

    async def audit_status(self, *, timeout: float | None = None) -> AuditStatus:
        """The answering ingress replica's audit writer: written, dropped, failing."""
        return await self._send(calls.audit_status(), timeout)

    # ------------------------------------------------------------ understanding views

    async def understand_filters(
        self, *, model: str | None = None, timeout: float | None = None
    ) -> FiltersResponse:
        """The first convolution's weights (exactly) and a picture of them."""
        return await self._send(calls.understand_filters(model), timeout)

    async def create_reference_set(
        self, name: str, images: Images, *, timeout: float | None = None
    ) -> ReferenceSetInfo:
        """Keep a named set of images on the service, for neighbours, maps and top patches."""
        return await self._send(calls.create_reference_set(name, images), timeout)

    async def reference_sets(self, *, timeout: float | None = None) -> ReferenceSetList:
        return await self._send(calls.reference_sets(), timeout)

    async def reference_set(self, set_id: str, *, timeout: float | None = None) -> ReferenceSetInfo:
        return await self._send(calls.reference_set(set_id), timeout)

    async def delete_reference_set(self, set_id: str, *, timeout: float | None = None) -> None:
        await self._send(calls.delete_reference_set(set_id), timeout)

    async def neighbours(
        self,
        reference_set: str,
        image: ImageInput | None = None,
        *,
        item: int | None = None,
        k: int | None = None,
        metric: Literal["cosine", "l2"] | None = None,
        layer: str | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> NeighboursResponse:
        """The set's nearest images to a query image, or to its own image ``item``."""
        options = {"item": item, "k": k, "metric": metric, "layer": layer, "model": model}
        return await self._send(calls.neighbours(reference_set, image, **options), timeout)

    async def feature_map(
        self,
        reference_set: str,
        *,
        method: Literal["pca", "tsne"] | None = None,
        layer: str | None = None,
        seed: int | None = None,
        perplexity: float | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> FeatureMapResponse:
        """The set laid out in 2-D (coordinates and a picture with thumbnails)."""
        options = {"method": method, "layer": layer, "seed": seed, "perplexity": perplexity, "model": model}
        return await self._send(calls.feature_map(reference_set, **options), timeout)

    async def top_patches(
        self,
        reference_set: str,
        channel: int,
        *,
        layer: str | None = None,
        k: int | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> TopPatchesResponse:
        """The set's images that most excite one channel, cropped to the unit's receptive field."""
        return await self._send(
            calls.top_patches(reference_set, channel, layer=layer, k=k, model=model), timeout
        )

    async def class_model(
        self,
        *,
        target_class: int | None = None,
        target_label: str | None = None,
        model: str | None = None,
        options: Mapping[str, float | int] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> ClassModelResponse:
        """An image made to maximise a class (options: steps, learning_rate, l2, jitter,
        blur_every, blur_sigma, seed)."""
        call = calls.class_model(
            target_class=target_class, target_label=target_label, model=model, **dict(options or {})
        )
        return await self._maybe_streamed(call, "/v1/understand/class-model/stream", timeout, on_progress)

    async def invert(
        self,
        image: ImageInput,
        *,
        layer: str | None = None,
        model: str | None = None,
        options: Mapping[str, float | int] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> InversionResponse:
        """The image rebuilt from a layer's features (options: steps, learning_rate, tv_weight, seed)."""
        call = calls.inversion(image, layer=layer, model=model, **dict(options or {}))
        return await self._maybe_streamed(call, "/v1/understand/inversion/stream", timeout, on_progress)

    async def deepdream(
        self,
        image: ImageInput,
        *,
        layer: str | None = None,
        model: str | None = None,
        options: Mapping[str, float | int] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> DeepDreamResponse:
        """The image with a layer's activations amplified (options: steps, octaves,
        octave_scale, learning_rate, jitter, seed)."""
        call = calls.deepdream(image, layer=layer, model=model, **dict(options or {}))
        return await self._maybe_streamed(call, "/v1/understand/deepdream/stream", timeout, on_progress)

    async def attention_rollout(
        self,
        image: ImageInput,
        *,
        model: str | None = None,
        discard_ratio: float | None = None,
        timeout: float | None = None,
    ) -> RolloutResponse:
        """Where a vision transformer's class token draws from."""
        return await self._send(
            calls.attention_rollout(image, model=model, discard_ratio=discard_ratio), timeout
        )

    async def _maybe_streamed(
        self, call: Call[T], stream_path: str, timeout: float | None, on_progress: ProgressCallback | None
    ) -> T:
        if on_progress is None:
            return await self._send(call, timeout)
        return await self._stream(replace(call, path=stream_path), timeout, on_progress)

    async def health(
        self,
        *,
        timeout: float | None = None,
    ) -> Health:
        """The HTTP service is up."""
        return await self._send(calls.health(), timeout)

    async def ready(
        self,
        *,
        timeout: float | None = None,
    ) -> Readiness:
        """Readiness of every model; raises ``UnavailableError`` while one is not ready."""
        return await self._send(calls.ready(), timeout)
