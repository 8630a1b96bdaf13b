"""Request bodies are read whole, within a deadline, before a request takes a serving slot.

Ray Serve counts an HTTP request against the ingress's ``max_ongoing_requests`` from the
moment its headers arrive. A client that declares a body and sends it slowly, or starts a
chunked body and never ends it, would hold that slot for as long as it likes: a few hundred
such connections and /healthz, /readyz and every complete request wait behind them. So, as
nginx does (``client_body_timeout``, ``client_max_body_size``), the body is read first, by
this middleware, which Serve runs outside its own request handling (Ray's
``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH``, set by ``visionserve.local``): a body still
arriving holds no slot, and the request reaches the application complete.

- A declared body over ``limits.max_body_bytes`` is refused (413) before a byte is read.
- A body not complete within ``limits.body_timeout_s`` of the request's start gets 408 and
  the connection is closed.
- At most ``limits.max_uploads_in_progress`` bodies, holding at most
  ``limits.max_upload_buffer_bytes``, are read at once; past either, 503 (retry shortly).
- A client that goes away mid-body is nobody's error: counted under 499, not 5xx.

The ingress replica registers its limits and metrics here at start (``configure``); Ray's
proxy process, where the HTTP proxy serves, uses the defaults of ``LimitsConfig``.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.middleware import Middleware

from visionserve.config import LimitsConfig, MetricsConfig
from visionserve.errors import BodyTimeout, Cancelled, Overloaded, PayloadTooLarge, ServiceError
from visionserve.ingress.errors import to_response
from visionserve.metrics import UNMATCHED, IngressMetrics

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass
class _Gate:
    limits: LimitsConfig
    metrics: IngressMetrics
    uploads: int = 0
    buffered: int = 0


_gate = _Gate(LimitsConfig(), IngressMetrics(MetricsConfig(enabled=False)))


def configure(limits: LimitsConfig, metrics: IngressMetrics) -> None:
    """The limits and metrics of this process's ingress (one application per replica)."""
    _gate.limits, _gate.metrics = limits, metrics


def middlewares() -> list[Middleware]:
    """What Ray Serve wraps around every HTTP server it starts (proxy and direct ingress)."""
    return [Middleware(ReadBodyFirst)]


class ReadBodyFirst:
    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self._app(scope, receive, send)
            return
        refusal, body = await _read(scope, receive)
        if body is not None:
            await self._app(scope, _replay(body, receive), send)
        elif refusal is not None:
            await _answer(scope, send, refusal)


def _has_body(scope: dict[str, Any]) -> bool:
    headers: dict[bytes, bytes] = dict(scope.get("headers") or [])
    length = headers.get(b"content-length", b"").strip()
    if length:
        return length != b"0"
    return b"transfer-encoding" in headers or scope.get("method") in _BODY_METHODS


def _declared_length(scope: dict[str, Any]) -> int | None:
    value = dict(scope.get("headers") or []).get(b"content-length", b"").strip()
    return int(value) if value.isdigit() else None


async def _read(scope: dict[str, Any], receive: Any) -> tuple[ServiceError | None, bytes | None]:
    """(None, the body), or (why it was refused, None); (None, None) when the client left."""
    limits = _gate.limits
    declared = _declared_length(scope)
    if declared is not None and declared > limits.max_body_bytes:
        return PayloadTooLarge(
            f"request body is {declared:,} bytes, over the limit of {limits.max_body_bytes:,}"
        ), None
    if _gate.uploads >= limits.max_uploads_in_progress:
        return Overloaded(f"{_gate.uploads} uploads in progress, the most this replica reads at once"), None
    _gate.uploads += 1
    chunks: list[bytes] = []
    held = 0
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return Cancelled("the client closed the connection while sending the body"), None
                chunk = message.get("body", b"")
                held += len(chunk)
                _gate.buffered += len(chunk)
                if held > limits.max_body_bytes:
                    return PayloadTooLarge(
                        f"request body is over the limit of {limits.max_body_bytes:,} bytes"
                    ), None
                if _gate.buffered > limits.max_upload_buffer_bytes:
                    return Overloaded("uploads in progress hold as much memory as this replica allows"), None
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return None, b"".join(chunks)
    except TimeoutError:
        return BodyTimeout(
            f"the request body did not arrive within {limits.body_timeout_s:g} s "
            f"({held:,} bytes came): send it at once, or in a faster request"
        ), None
    finally:
        _gate.uploads -= 1
        _gate.buffered -= held


def _replay(body: bytes, receive: Any) -> Any:
    """The application's receive: the whole body at once, then the client's own messages
    (a disconnect, for whoever listens for one)."""
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return replayed


async def _answer(scope: dict[str, Any], send: Any, error: ServiceError) -> None:
    """The API's error body, counted; the connection closes, since the body was not read.
    A client that left is only counted (499): there is nobody to answer."""
    headers = dict(scope.get("headers") or [])
    request_id = headers.get(b"x-request-id", b"").decode("latin-1") or uuid.uuid4().hex
    with _gate.metrics.request("http", UNMATCHED) as record:
        record.status = error.status
        if isinstance(error, Cancelled):
            return
        response = to_response(error, request_id, scope)
        response.headers["connection"] = "close"
        response.headers["x-request-id"] = request_id
        await response(scope, _no_body, send)


async def _no_body() -> dict[str, Any]:
    return {"type": "http.disconnect"}
