"""Exceptions raised by the VisionServe client.

VisionServeError
├── ConnectionFailed          the service could not be reached
│   └── RequestTimeout        no answer within the call's timeout
└── APIError                  the service answered with an error body
    ├── BadRequestError       400
    ├── AuthenticationError   401
    ├── PermissionDeniedError 403
    ├── NotFoundError         404
    ├── ConflictError         409
    ├── PayloadTooLargeError  413
    ├── UnsupportedMediaError 415
    ├── UnprocessableError    422
    ├── RateLimitedError      429
    ├── InternalServerError   500
    └── UnavailableError      503 (and 502, 504)
"""

from __future__ import annotations


class VisionServeError(Exception):
    """Root of every exception this client raises."""


class ConnectionFailed(VisionServeError):
    """The request never got an answer (refused, reset, timed out)."""


class RequestTimeout(ConnectionFailed):
    """No answer within the call's timeout; a POST may still have run on the server."""


class APIError(VisionServeError):
    """The service answered with ``{"error": {"code", "message", "request_id"}}``."""

    status_code: int = 0

    def __init__(self, status_code: int, code: str, message: str, request_id: str) -> None:
        super().__init__(status_code, code, message, request_id)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.status_code} {self.code}: {self.message} (request_id={self.request_id})"


class BadRequestError(APIError):
    pass


class AuthenticationError(APIError):
    pass


class PermissionDeniedError(APIError):
    pass


class NotFoundError(APIError):
    pass


class ConflictError(APIError):
    """The record cannot be used as asked (not explainable now, or a request_id shared by
    several records); the message says which."""


class PayloadTooLargeError(APIError):
    pass


class UnsupportedMediaError(APIError):
    pass


class UnprocessableError(APIError):
    pass


class RateLimitedError(APIError):
    pass


class InternalServerError(APIError):
    pass


class UnavailableError(APIError):
    pass


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaError,
    422: UnprocessableError,
    429: RateLimitedError,
    500: InternalServerError,
    502: UnavailableError,
    503: UnavailableError,
    504: UnavailableError,
}


def error_for_status(status_code: int, code: str, message: str, request_id: str) -> APIError:
    """The exception instance for an error answer with this HTTP status."""
    cls = _BY_STATUS.get(status_code, APIError)
    return cls(status_code, code, message, request_id)
