"""Errors raised inside the service, and the one table of what each answers.

An error's HTTP status and code are its class's; the gRPC status and Retry-After follow from
the HTTP status (``GRPC_STATUS``, ``RETRY_AFTER_S``). Exceptions of Ray, Starlette and
pydantic are turned into these in one place, ``visionserve.ingress.errors``.

    ServiceError                     (status, code)
    ├── BadRequest                   400 bad_request
    │   ├── EmptyRequest             400 no_images
    │   ├── InvalidImage             400 invalid_image
    │   └── InvalidBase64            400 invalid_base64
    ├── Unauthorized                 401 unauthorized
    ├── Forbidden                    403 forbidden
    ├── ModelNotFound                404 model_not_found
    ├── ReferenceSetNotFound         404 reference_set_not_found
    ├── PredictionNotFound           404 prediction_not_found
    ├── ServiceNotFound              404 service_not_found (gRPC health: a service not served)
    ├── CannotExplainRecord          409 cannot_explain_record
    ├── AmbiguousRequestId           409 ambiguous_request_id (several records share it)
    ├── PayloadTooLarge              413 payload_too_large
    │   ├── TooManyImages            413 too_many_images
    │   ├── ImageTooLarge            413 image_too_large
    │   └── TooManyTexts             413 too_many_texts
    ├── UnsupportedMediaType         415 unsupported_media_type
    ├── Unprocessable                422 invalid_parameter
    │   ├── TaskMismatch             422 task_mismatch
    │   └── ExplanationTooCostly     422 explanation_too_costly
    ├── ModelUnavailable             503 model_unavailable
    ├── Overloaded                   503 overloaded
    ├── AuditUnavailable             503 audit_unavailable (audit fail-closed, store failing)
    ├── BodyTimeout                  408 body_timeout (the body did not arrive in time)
    ├── Cancelled                    499 cancelled (the caller went away)
    ├── Timeout                      504 timeout
    └── ModelError                   500 model_error (a user model's own code raised)
    ConfigError                      not an HTTP error: a bad config stops start-up

Every exception takes only its message in ``__init__`` so that it pickles unchanged across a
Ray actor boundary (a model replica raises, the ingress maps it).
"""

from __future__ import annotations

RETRY_AFTER_S = 1
"""Seconds a refused caller is asked to wait (Retry-After), on every 503."""

GRPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    408: "DEADLINE_EXCEEDED",
    409: "FAILED_PRECONDITION",
    413: "RESOURCE_EXHAUSTED",
    415: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    499: "CANCELLED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
"""The gRPC status of each HTTP status an error can have; INTERNAL for any other."""


def grpc_status(status: int) -> str:
    return GRPC_STATUS.get(status, "INTERNAL")


def retry_after(status: int) -> int | None:
    """Retry-After for a response of this status: the refusals for load, never a caller's error."""
    return RETRY_AFTER_S if status == 503 else None


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


class ServiceError(Exception):
    status: int = 500
    code: str = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class EmptyRequest(BadRequest):
    code = "no_images"


class InvalidImage(BadRequest):
    code = "invalid_image"


class InvalidBase64(BadRequest):
    code = "invalid_base64"


class Unauthorized(ServiceError):
    """No API key, or one that is not configured."""

    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    """A configured API key without the scope the endpoint needs."""

    status, code = 403, "forbidden"


class ModelNotFound(ServiceError):
    status, code = 404, "model_not_found"


class ReferenceSetNotFound(ServiceError):
    status, code = 404, "reference_set_not_found"


class PredictionNotFound(ServiceError):
    status, code = 404, "prediction_not_found"


class ServiceNotFound(ServiceError):
    status, code = 404, "service_not_found"


class CannotExplainRecord(ServiceError):
    """A recorded prediction whose image was not kept, or whose weights are no longer loaded."""

    status, code = 409, "cannot_explain_record"


class AmbiguousRequestId(ServiceError):
    """A request_id that callers sent with several requests, asked for as one record."""

    status, code = 409, "ambiguous_request_id"


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"


class TooManyImages(PayloadTooLarge):
    code = "too_many_images"


class ImageTooLarge(PayloadTooLarge):
    code = "image_too_large"


class TooManyTexts(PayloadTooLarge):
    code = "too_many_texts"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(ServiceError):
    status, code = 422, "invalid_parameter"


class TaskMismatch(Unprocessable):
    code = "task_mismatch"


class ExplanationTooCostly(Unprocessable):
    code = "explanation_too_costly"


class ModelUnavailable(ServiceError):
    status, code = 503, "model_unavailable"


class Overloaded(ServiceError):
    status, code = 503, "overloaded"


class AuditUnavailable(ServiceError):
    """Audit is fail-closed and cannot keep records: no prediction goes unrecorded."""

    status, code = 503, "audit_unavailable"


class BodyTimeout(ServiceError):
    """The request's body did not arrive within limits.body_timeout_s (nginx's 408)."""

    status, code = 408, "body_timeout"


class Cancelled(ServiceError):
    """The caller went away or cancelled; nobody reads this answer (nginx's 499)."""

    status, code = 499, "cancelled"


class Timeout(ServiceError):
    status, code = 504, "timeout"


class ModelError(ServiceError):
    """A user model's preprocess or postprocess raised: a fault of the model's code on this
    input, named so that its owner can find it (the service's own bugs are 500 internal)."""

    status, code = 500, "model_error"


def find_service_error(exc: BaseException) -> ServiceError | None:
    """The ServiceError behind ``exc``: itself, or one Ray wrapped on the way from a replica."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ServiceError):
            return current
        seen.add(id(current))
        cause = getattr(current, "cause", None)  # RayTaskError keeps the original here
        current = cause if isinstance(cause, BaseException) else current.__cause__
    return None
