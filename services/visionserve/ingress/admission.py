"""Shedding at the door: refuse a request before its body is read when its model is full.

Under overload the costly part of a refusal is everything before it: reading and parsing a
multipart body, the call to the model replica and its answer. A model replica refuses work
it cannot start within its queue budget (``batching.max_queue_ms``); the ingress learns from
those refusals how many requests each endpoint can have in flight (additive increase on each
success, a 10% cut below the in-flight count on each refusal: the AIMD of TCP) and answers
the rest at once with the API's 503, costing a counter and a small JSON body. The model's
own budget stays the authority; this only keeps refusals cheap.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.routing import get_route_path

from visionserve.errors import Overloaded
from visionserve.ingress.errors import RETRY_AFTER_S
from visionserve.metrics import IngressMetrics, note_error

# The POST routes that queue work on a model or the explainer, as (label, pattern).
_GATED = [
    ("/v1/classify", re.compile(r"/v1/classify")),
    ("/v1/detect", re.compile(r"/v1/detect")),
    ("/v1/segment", re.compile(r"/v1/segment")),
    ("/v1/embed/image", re.compile(r"/v1/embed/image")),
    ("/v1/embed/text", re.compile(r"/v1/embed/text")),
    ("/v1/zero-shot", re.compile(r"/v1/zero-shot")),
    ("/v1/explain", re.compile(r"/v1/explain")),
    ("/v1/explain/stream", re.compile(r"/v1/explain/stream")),
    ("/v1/models/{name}/predict", re.compile(r"/v1/models/[^/]+/predict")),
    ("/v2/models/{name}/infer", re.compile(r"/v2/models/[^/]+/infer")),
]


def gated_route(path: str) -> str | None:
    """The route template of a gated POST path, None for paths that are never shed."""
    for label, pattern in _GATED:
        if pattern.fullmatch(path):
            return label
    return None


@dataclass
class _Gate:
    limit: float
    in_flight: int = 0


class AdmissionControl:
    """Per-key concurrency limits learnt from the models' refusals; a key is a request path."""

    DECREASE = 0.9

    def __init__(self, max_in_flight: int) -> None:
        self._max = float(max_in_flight)
        self._gates: dict[str, _Gate] = {}

    def _gate(self, key: str) -> _Gate:
        gate = self._gates.get(key)
        if gate is None:
            if len(self._gates) > 10_000:  # paths carry model names: never an unbounded map
                self._gates = {k: g for k, g in self._gates.items() if g.in_flight > 0}
            gate = self._gates[key] = _Gate(limit=self._max)
        return gate

    def limit(self, key: str) -> float:
        return self._gate(key).limit

    def try_enter(self, key: str) -> bool:
        gate = self._gate(key)
        if gate.in_flight >= max(1.0, gate.limit):
            return False
        gate.in_flight += 1
        return True

    def leave(self, key: str) -> None:
        self._gate(key).in_flight -= 1

    def served(self, key: str) -> None:
        """A request of KEY was served: allow about one more in flight per ``limit`` served."""
        gate = self._gate(key)
        gate.limit = min(self._max, gate.limit + 1.0 / max(1.0, gate.limit))

    def refused(self, key: str) -> None:
        """A model refused a request of KEY for load: fewer in flight from now on."""
        gate = self._gate(key)
        gate.limit = max(1.0, min(gate.limit, gate.in_flight) * self.DECREASE)


class ShedWhenFull:
    """ASGI middleware, outermost: the gate in front of auth, body parsing and the routes.

    The app's ``state.admission`` (an AdmissionControl) turns it on; the route handlers tell
    it of each outcome through the request's ``state.admission_key``.
    """

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        admission: AdmissionControl | None = None
        if scope["type"] == "http" and scope.get("method") == "POST" and "app" in scope:
            admission = getattr(scope["app"].state, "admission", None)
        # Without the application's route prefix, as the routes see it.
        path = get_route_path(scope) if admission is not None else ""
        route = gated_route(path) if admission is not None else None
        if admission is None or route is None:
            await self._app(scope, receive, send)
            return
        if not admission.try_enter(path):
            await _refuse(scope, send, route)
            return
        scope.setdefault("state", {})["admission_key"] = path
        try:
            await self._app(scope, receive, send)
        finally:
            admission.leave(path)


async def _refuse(scope: dict[str, Any], send: Any, route: str) -> None:
    """The API's 503 overloaded, counted like every other answer; the body is never read."""
    headers = dict(scope.get("headers") or [])
    request_id = headers.get(b"x-request-id", b"").decode("latin-1") or uuid.uuid4().hex
    error = Overloaded(f"{route} has as many requests in flight as its model takes now: retry shortly")
    body = json.dumps(
        {"error": {"code": error.code, "message": error.message, "request_id": request_id}}
    ).encode()
    metrics: IngressMetrics | None = getattr(scope["app"].state, "metrics", None)
    if metrics is not None:
        with metrics.request("http", route) as record:
            note_error(error.code)
            record.status = error.status
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_S).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
