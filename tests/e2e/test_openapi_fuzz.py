"""Requests generated from the service's own OpenAPI document (schemathesis): whatever a
caller sends that the document describes (positive) or breaks (negative), the answer is never a 5xx.

Each operation gets its own Hypothesis run inside one test (schemathesis's pytest fixture
loader does not run on this pytest); a failure names the operation and the request.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 40


def test_no_generated_request_is_answered_with_a_5xx(service: str) -> None:
    schema = schemathesis.openapi.from_url(f"{service}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # every route of the API is in the document
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    runs = [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    for operation, mode in runs:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(checks=[not_a_server_error], timeout=60)
            statuses[response.status_code] += 1

        try:
            check()
        except Unsatisfiable:  # nothing to break: no body, no typed parameter
            assert mode == GenerationMode.NEGATIVE
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    # Both valid and invalid requests were made: some served, most refused with a 4xx.
    assert statuses[200] > 0, statuses
    assert sum(n for code, n in statuses.items() if 400 <= code < 500) > 100, statuses
