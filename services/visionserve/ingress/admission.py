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

import uuid
from dataclasses import dataclass
from typing import Any

from starlette._utils import get_route_path  # where it is defined (routing re-exports it)

from visionserve.errors import Overloaded
from visionserve.ingress.errors import error_response
from visionserve.ingress.replica import NO_METRICS, current
from visionserve.ingress.routes import shed_route


def gated_route(method: str, path: str) -> str | None:
    """The route template of a request that is shed under load, None for one never shed."""
    row = shed_route(method, path)
    return row.path if row is not None else None


def _gate_key(template: str, path: str) -> str:
    """Each model of a /v2 route has a gate of its own; other routes have one each."""
    return path if "{name}" in template else template


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

    The replica's AdmissionControl (``ingress.replica``) turns it on; the gateway tells it of
    each outcome through the request's ``state.admission_key``.
    """

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        replica = current()
        admission = replica.admission if replica is not None and scope["type"] == "http" else None
        # Without the application's route prefix, as the routes see it.
        route = gated_route(scope["method"], get_route_path(scope)) if admission is not None else None
        if admission is None or route is None:
            await self._app(scope, receive, send)
            return
        key = _gate_key(route, get_route_path(scope))
        if not admission.try_enter(key):
            await _refuse(scope, receive, send, route)
            return
        scope.setdefault("state", {})["admission_key"] = key
        try:
            await self._app(scope, receive, send)
        finally:
            admission.leave(key)


async def _refuse(scope: dict[str, Any], receive: Any, send: Any, route: str) -> None:
    """The API's 503 overloaded, counted like every other answer; the body is never read."""
    headers = dict(scope.get("headers") or [])
    request_id = headers.get(b"x-request-id", b"").decode("latin-1") or uuid.uuid4().hex
    error = Overloaded(f"{route} has as many requests in flight as its model takes now: retry shortly")
    replica = current()
    metrics = replica.metrics if replica is not None else NO_METRICS
    with metrics.request("http", route) as record:
        record.status = error.status
        response = error_response(error.status, error.code, error.message, request_id, scope)
    await response(scope, receive, send)
