"""What both clients do the same way, awaited or not: their defaults, reading an answer or a
stream of NDJSON lines into its schema, and naming a transport failure."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from pydantic import ValidationError

from visionserve_client._calls import Call, T
from visionserve_client.errors import ConnectionFailed, RequestTimeout, VisionServeError, error_for_status
from visionserve_client.retries import RetryPolicy
from visionserve_client.types import ErrorEvent, ProgressEvent

ProgressCallback = Callable[[ProgressEvent], None]
"""Hears a long request's progress: called with each ProgressEvent as it arrives."""

DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = RetryPolicy()


def parsed(response: httpx.Response, schema: type[T]) -> T:
    """The answer as ``schema``, or the API error it carries, raised."""
    if response.status_code == 204:
        try:
            return schema.model_validate({})
        except ValidationError as exc:
            raise VisionServeError(f"an empty answer (204) where {schema.__name__} was expected") from exc
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


def streamed_result(lines: Iterable[str], on_progress: ProgressCallback, schema: type[T]) -> T | None:
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


def stream_ended(call: Call[Any]) -> VisionServeError:
    return VisionServeError(f"{call.method} {call.path}: the stream ended without a result")


def transport_error(call: Call[Any], exc: httpx.TransportError) -> ConnectionFailed:
    kind = RequestTimeout if isinstance(exc, httpx.TimeoutException) else ConnectionFailed
    return kind(f"{call.method} {call.path}: {type(exc).__name__}: {exc}")
