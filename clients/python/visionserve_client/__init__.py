"""Typed Python client for VisionServe, and the API's wire schemas."""

from visionserve_client.client import AsyncVisionServe, ImageInput, VisionServe
from visionserve_client.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConnectionFailed,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    UnavailableError,
    UnprocessableError,
    UnsupportedMediaError,
    VisionServeError,
)

__all__ = [
    "APIError",
    "AsyncVisionServe",
    "AuthenticationError",
    "BadRequestError",
    "ConnectionFailed",
    "ImageInput",
    "InternalServerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "UnavailableError",
    "UnprocessableError",
    "UnsupportedMediaError",
    "VisionServe",
    "VisionServeError",
]
