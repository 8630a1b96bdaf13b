"""Replica logging: a caller's mistake or a refusal for load is an answer, not a failure.

Serve logs every exception a replica method raises, with its traceback, at ERROR. For our
ServiceErrors (bad images, overload, an unloaded model) that is noise an operator learns to
ignore and, under overload, measurable CPU: thousands of tracebacks a minute. The ingress
still counts each by code (visionserve_requests, visionserve_rejected_requests).
"""

from __future__ import annotations

import logging

from visionserve.errors import find_service_error

SERVE_LOGGER = "ray.serve"


class _DropServiceErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            return find_service_error(record.exc_info[1]) is None
        return True


def quiet_expected_errors() -> None:
    """Install once per replica process (idempotent)."""
    logger = logging.getLogger(SERVE_LOGGER)
    if not any(isinstance(f, _DropServiceErrors) for f in logger.filters):
        logger.addFilter(_DropServiceErrors())
