"""Every HTTP request's id, measurement and, for paths outside the API's routes, its key.

A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``: that one runs the app
in a task group with memory streams between them, which cost a measurable part of a
millisecond per request here (load_tests/README.md).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from starlette._utils import get_route_path  # where it is defined (routing re-exports it)
from starlette.datastructures import Headers

from visionserve.errors import BadRequest, Cancelled, Forbidden, ServiceError, Unauthorized
from visionserve.ingress.auth import Authenticator, presented_key
from visionserve.ingress.errors import to_response
from visionserve.ingress.replica import NO_METRICS, current
from visionserve.ingress.routes import OPENAPI
from visionserve.metrics import UNMATCHED

# FastAPI's own route (the OpenAPI document), outside the API routes' dependencies.
_DOC_PATHS = frozenset({OPENAPI.path})


def authenticator() -> Authenticator | None:
    """The replica's key checker, when keys are configured."""
    replica = current()
    return replica.auth if replica is not None and replica.auth.enabled else None


def _refusal(auth: Authenticator, headers: Headers) -> ServiceError | None:
    """Why the presented key may not read (none: it may)."""
    try:
        auth.check(presented_key(headers), "read")
    except (Unauthorized, Forbidden) as exc:
        return exc
    return None


def _has_nul(scope: dict[str, Any]) -> bool:
    """A NUL in the path or query: no route, name or filter holds one, and databases and file
    systems refuse it deep inside (a 500 there), so it is refused at the door."""
    query = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query


class MeasureRequests:
    """Serve's proxy puts the caller's x-request-id (or one it generates) on every request and
    echoes it on the response; the API reports the same id in bodies, so that logs, headers and
    audit records agree. Each request is counted under its route's template (never the raw
    path: a bounded label). Without a route, a request with a bad key learns only that."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        replica = current()
        metrics = replica.metrics if replica is not None else NO_METRICS
        auth = authenticator()
        with metrics.request("http", UNMATCHED) as record:
            refused = _refusal(auth, headers) if auth and get_route_path(scope) in _DOC_PATHS else None
            if refused is None and _has_nul(scope):
                refused = BadRequest("the URL holds a NUL character (%00), which no name or value may hold")
            if refused is not None:
                error = to_response(refused, request_id, scope)
                record.status = error.status_code
                await error(scope, receive, send)
                return
            replaced = False

            async def measured_send(message: dict[str, Any]) -> None:
                nonlocal replaced
                if replaced:
                    return
                if message["type"] == "http.response.start":
                    route = scope.get("route")
                    refusal = None
                    if route is not None:
                        record.endpoint = str(getattr(route, "path", UNMATCHED))
                    elif auth is not None:
                        refusal = _refusal(auth, headers)
                    if refusal is not None:  # the app's 404 or 405 is not for this caller
                        replaced = True
                        error = to_response(refusal, request_id, scope)
                        record.status = error.status_code
                        await error(scope, receive, send)
                        return
                    record.status = message["status"]
                await send(message)

            try:
                await self._app(scope, receive, measured_send)
            except asyncio.CancelledError:
                # Serve cancels a request whose client went away: the caller's doing (499),
                # never the service's 500.
                record.status = Cancelled.status
                raise
            finally:
                # A request that failed before answering still counts under its route.
                route = scope.get("route")
                if record.endpoint == UNMATCHED and route is not None:
                    record.endpoint = str(getattr(route, "path", UNMATCHED))
