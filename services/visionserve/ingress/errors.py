"""Every exception raised while serving a request, as the API's error answer.

The statuses, codes, gRPC statuses and Retry-After are the table in ``visionserve.errors``;
this module turns whatever was raised (our errors, Ray's refusals, Starlette's and pydantic's
errors) into one of them, and renders it. Every error body on the API is
``{"error": {"code", "message", "request_id"}}``; on the Open Inference Protocol's paths (/v2)
it is the protocol's ``{"error": "<message>"}``, with the code leading the message (the request
id is in the ``x-request-id`` header Serve puts on every answer). Callers' mistakes are 4xx,
overload is 503 with Retry-After, and only a bug in the service is a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from starlette._utils import get_route_path  # where it is defined (routing re-exports it)
from starlette.exceptions import HTTPException as StarletteHTTPException

from visionserve.errors import (
    ModelUnavailable,
    Overloaded,
    PayloadTooLarge,
    ServiceError,
    Unprocessable,
    UnsupportedMediaType,
    find_service_error,
    retry_after,
)
from visionserve.metrics import note_error
from visionserve_client.types import ErrorDetail, ErrorResponse

logger = logging.getLogger("visionserve")

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: PayloadTooLarge.code,
    415: UnsupportedMediaType.code,
    422: Unprocessable.code,
}

_UNAVAILABLE = (ActorDiedError, ActorUnavailableError, RayActorError, DeploymentUnavailableError)
EXPECTED_ERRORS: tuple[type[Exception], ...] = (ServiceError, BackPressureError, *_UNAVAILABLE)
"""Errors that answer a request with a 4xx or 503: not failures of the service itself."""


MAX_MESSAGE_CHARS = 1000
"""An error message quotes the caller's input at most this long: never megabytes of it."""


def shown(text: str, limit: int = 80) -> str:
    """A caller's text in an error message, cut short: an answer never echoes megabytes."""
    return text if len(text) <= limit else text[:limit] + "..."


def validation_problems(errors: Sequence[Any]) -> str:
    """pydantic's (or FastAPI's) validation errors as one message naming every bad field."""
    problems = []
    for error in errors:
        where = shown(".".join(str(p) for p in error["loc"])) or "body"
        what = "unknown parameter" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{where}: {what}")
    return "; ".join(problems[:20])


def as_service_error(exc: BaseException) -> ServiceError | None:
    """The ServiceError an exception stands for; None for a bug of the service (a 500)."""
    found = find_service_error(exc)
    if found is not None:
        return found
    if isinstance(exc, BackPressureError):
        return Overloaded("the model's queue is full: retry shortly")
    if isinstance(exc, _UNAVAILABLE):
        return ModelUnavailable("the model replica is unavailable: retry shortly")
    if isinstance(exc, RequestValidationError):
        return Unprocessable(validation_problems(exc.errors()))
    if isinstance(exc, (HTTPException, StarletteHTTPException)):
        http = ServiceError(str(exc.detail))
        http.status, http.code = exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error")
        return http
    return None


def describe_error(exc: BaseException) -> tuple[int, str, str]:
    """(HTTP status, error code, message) for any exception raised while serving a request."""
    found = as_service_error(exc)
    if found is None:
        return 500, "internal", "internal error; the request_id identifies it in the logs"
    return found.status, found.code, found.message


OIP_PREFIX = "/v2"
"""Paths of the Open Inference Protocol, whose clients read the protocol's own error body."""


def speaks_oip(scope: Mapping[str, Any]) -> bool:
    """Whether a request (its ASGI scope) is on the protocol's paths, wherever the application
    is mounted (an application's route prefix is the scope's root_path)."""
    path = get_route_path(dict(scope)) if scope.get("path") else ""
    return path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/")


def error_response(
    status: int, code: str, message: str, request_id: str, scope: Mapping[str, Any]
) -> JSONResponse:
    """The error answer to a request (its ASGI scope), in the body its protocol defines."""
    note_error(code)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    body: dict[str, Any]
    if speaks_oip(scope):
        body = {"error": f"{code}: {message}"}
    else:
        detail = ErrorDetail(code=code, message=message, request_id=request_id)
        body = ErrorResponse(error=detail).model_dump()
    headers = {}
    wait = retry_after(status)
    if wait is not None:
        headers["retry-after"] = str(wait)
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="visionserve"'
    return JSONResponse(body, status_code=status, headers=headers)


def to_response(exc: BaseException, request_id: str, scope: Mapping[str, Any]) -> JSONResponse:
    """Map any exception raised while serving a request (its ASGI scope) to its error response."""
    status, code, message = describe_error(exc)
    if code == "internal":
        logger.exception("request %s failed", request_id, exc_info=exc)
    return error_response(status, code, message, request_id, scope)
