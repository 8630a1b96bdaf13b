"""Requests generated from the service's own OpenAPI document (schemathesis): whatever a
caller sends that the document describes (positive) or breaks (negative), the answer is never a 5xx.

Each operation gets its own Hypothesis run inside one test (schemathesis's pytest fixture
loader does not run on this pytest); a failure names the operation and the request.

The amount of work a request asks for (optimisation steps, samples, masks, octaves, occlusion
windows) is kept small where it is legal: a thousand legal class-model steps take minutes here,
and what each limit costs is priced and tested where the limits are (tests/e2e/test_understand.py,
tests/e2e/test_explain.py). Values past the limits are sent as generated: they are refused first.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 40
HOSTILE_EXAMPLES_PER_OPERATION = 15
# Values that fit a schema's type but no computation should meet: NUL bytes and long strings,
# numbers past float64 (NaN and infinities: tests/e2e/test_hostile.py, as JSON cannot carry them);
# each hostile case puts one in a valid request.
HOSTILE_VALUES: list[Any] = ["a\x00b", "\x00", "x" * 5000, 1e308, -1e308, 10**30, -(10**30)]


# Work fields, and the value a legal one is brought to (strides: the least they are brought up to).
LIGHT_WORK: dict[str, int] = {
    "steps": 3,
    "samples": 3,
    "masks": 8,
    "octaves": 2,
    "batch_size": 8,
    "stride": 32,
}
LEGAL_WORK = 4096
"""No limit of the default config lets a request ask for more (limits.max_explanation_passes)."""


def _work_fields(operation: Any) -> set[str]:
    """The work fields of an operation's request (its JSON body's properties)."""
    content = operation.definition.raw.get("requestBody", {}).get("content", {})
    properties = content.get("application/json", {}).get("schema", {}).get("properties", {})
    return set(properties) & set(LIGHT_WORK)


def _light(case: schemathesis.Case, work: set[str]) -> schemathesis.Case:
    """The case with each legal amount of work, and each one left to its default, brought down
    to a few passes of the model. A body that is not an object (one raw image) takes its
    parameters in the query string."""
    if not isinstance(case.body, dict) and case.query is None:
        case.query = {}
    target = case.body if isinstance(case.body, dict) else case.query
    for key in work:
        light, value = LIGHT_WORK[key], target.get(key)
        too_much = key != "stride" and type(value) is int and light < value <= LEGAL_WORK
        too_fine = key == "stride" and type(value) is int and 0 < value < light
        if value is None or too_much or too_fine:
            target[key] = light
    return case


def _poisoned(case: schemathesis.Case, value: Any, index: int) -> schemathesis.Case:
    """The case with one of its query, body or path values replaced by ``value``."""
    for part in (case.query, case.body, case.path_parameters):
        if isinstance(part, dict) and part:
            key = sorted(part)[index % len(part)]
            part[key] = value
            return case
    return case


def _described(exc: BaseException) -> str:
    """The failure and, for a group (Hypothesis's flaky failures are one), each failure inside it."""
    parts = [f"{type(exc).__name__}: {exc}"]
    for inner in getattr(exc, "exceptions", ()):
        parts.append("  caused by " + _described(inner).replace("\n", "\n  "))
    return "\n".join(parts)


def test_no_generated_request_is_answered_with_a_5xx(service: str) -> None:
    schema = schemathesis.openapi.from_url(f"{service}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # every route of the API is in the document
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    runs = [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    for operation, mode in runs:
        work = _work_fields(operation)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            light = _light(case, work)  # noqa: B023 (each function runs in its own iteration)
            response = light.call_and_validate(checks=[not_a_server_error], timeout=60)
            statuses[response.status_code] += 1

        try:
            check()
        except Unsatisfiable:  # nothing to break: no body, no typed parameter
            assert mode == GenerationMode.NEGATIVE
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {_described(exc)}")
    for operation in operations:
        work = _work_fields(operation)

        @given(
            case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            value=st.sampled_from(HOSTILE_VALUES),
            index=st.integers(0, 20),
        )
        @settings(
            max_examples=HOSTILE_EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def hostile(case: schemathesis.Case, value: Any, index: int) -> None:
            response = _poisoned(_light(case, work), value, index).call(timeout=60)  # noqa: B023
            assert response.status_code < 500, (response.status_code, response.text[:300])
            statuses[response.status_code] += 1

        try:
            hostile()
        except Exception as exc:
            where = f"{operation.method.upper()} {operation.path}"
            failures.append(f"{where} (hostile values): {_described(exc)}")
    assert not failures, "\n\n".join(failures)
    # Both valid and invalid requests were made: some served, most refused with a 4xx.
    assert statuses[200] > 0, statuses
    assert sum(n for code, n in statuses.items() if 400 <= code < 500) > 100, statuses
