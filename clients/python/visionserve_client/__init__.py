"""Typed Python client for VisionServe, and the API's wire schemas."""

from visionserve_client.client import AsyncVisionServe, ImageInput, ProgressCallback, VisionServe
from visionserve_client.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectionFailed,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    RequestTimeout,
    UnavailableError,
    UnprocessableError,
    UnsupportedMediaError,
    VisionServeError,
)
from visionserve_client.retries import NO_RETRIES, RetryPolicy

__all__ = [
    "NO_RETRIES",
    "APIError",
    "AsyncVisionServe",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ConnectionFailed",
    "ImageInput",
    "InternalServerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProgressCallback",
    "RateLimitedError",
    "RequestTimeout",
    "RetryPolicy",
    "UnavailableError",
    "UnprocessableError",
    "UnsupportedMediaError",
    "VisionServe",
    "VisionServeError",
]
