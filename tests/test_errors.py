from __future__ import annotations

import pickle

import pytest
from ray.exceptions import RayTaskError

from visionserve import errors
from visionserve.errors import ServiceError, find_service_error

ALL = [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, ServiceError)]


@pytest.mark.parametrize("cls", ALL, ids=[c.__name__ for c in ALL])
def test_every_service_error_survives_pickling(cls: type[ServiceError]) -> None:
    original = cls("what happened")
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is cls
    assert (copy.status, copy.code, copy.message) == (cls.status, cls.code, "what happened")


def test_every_caller_error_is_4xx_and_codes_are_unique() -> None:
    callers = [
        c
        for c in ALL
        if c
        not in (
            errors.ServiceError,
            errors.ModelUnavailable,
            errors.Overloaded,
            errors.Timeout,
            errors.AuditUnavailable,  # the service cannot record predictions: its fault, not the caller's
            errors.ModelError,  # a user model's own code failed: its owner's fault
        )
    ]
    assert all(400 <= c.status < 500 for c in callers)
    codes = [c.code for c in ALL]
    assert len(codes) == len(set(codes))


def test_errors_are_found_inside_ray_wrappers() -> None:
    cause = errors.TaskMismatch("use /v1/detect")
    wrapped = RayTaskError("predict", "traceback text", cause)
    assert find_service_error(wrapped) is cause
    as_instance = wrapped.as_instanceof_cause()
    found = find_service_error(as_instance)
    assert found is not None
    assert found.code == "task_mismatch"
    assert find_service_error(RuntimeError("plain")) is None
