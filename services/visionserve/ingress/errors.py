"""The one table from exceptions to HTTP error responses.

Every error body is ``{"error": {"code", "message", "request_id"}}``. Callers' mistakes are
4xx, overload is 503 with Retry-After, and only a bug in the service is a 500.
"""

from __future__ import annotations

import logging

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from starlette.exceptions import HTTPException as StarletteHTTPException

from visionserve.errors import ServiceError, find_service_error
from visionserve.metrics import note_error
from visionserve_client.types import ErrorDetail, ErrorResponse

logger = logging.getLogger("visionserve")

RETRY_AFTER_S = 1

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
}

_UNAVAILABLE = (ActorDiedError, ActorUnavailableError, RayActorError, DeploymentUnavailableError)
EXPECTED_ERRORS: tuple[type[Exception], ...] = (ServiceError, BackPressureError, *_UNAVAILABLE)
"""Errors that answer a request with a 4xx or 503: not failures of the service itself."""


MAX_MESSAGE_CHARS = 1000
"""An error message quotes the caller's input at most this long: never megabytes of it."""


def error_response(status: int, code: str, message: str, request_id: str) -> JSONResponse:
    note_error(code)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    body = ErrorResponse(error=ErrorDetail(code=code, message=message, request_id=request_id))
    headers = {}
    if status in (429, 503):
        headers["retry-after"] = str(RETRY_AFTER_S)
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="visionserve"'

    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def describe_error(exc: BaseException) -> tuple[int, str, str]:
    """(HTTP status, error code, message) for any exception raised while serving a request."""
    service_error = find_service_error(exc)
    if service_error is not None:
        return service_error.status, service_error.code, service_error.message
    if isinstance(exc, BackPressureError):
        return 503, "overloaded", "the model's queue is full: retry shortly"
    if isinstance(exc, _UNAVAILABLE):
        return 503, "model_unavailable", "the model replica is unavailable: retry shortly"
    if isinstance(exc, RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return 422, "invalid_parameter", problems
    if isinstance(exc, (HTTPException, StarletteHTTPException)):
        return exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail)
    return 500, "internal", "internal error; the request_id identifies it in the logs"


def to_response(exc: BaseException, request_id: str) -> JSONResponse:
    """Map any exception raised while serving a request to its error response."""
    status, code, message = describe_error(exc)
    if code == "internal":
        logger.exception("request %s failed", request_id, exc_info=exc)
    return error_response(status, code, message, request_id)
