"""When to send a request again, and how long to wait first.

Retried: answers that say the server did nothing and may do it later (429, 503), and
transport failures that happened before the request left (connection refused, connect or
pool timeout). A failure after the request was sent (read timeout, dropped connection) leaves
its fate unknown: only GETs, which change nothing, are retried then; a POST is recorded in the
audit trail, so sending it twice is not harmless.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

# Sent before any byte of the request reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, overridden by the server's Retry-After."""

    attempts: int = 4
    """Tries in all, the first included (1: never retry)."""
    backoff_s: float = 0.25
    """First wait; each later one doubles, up to ``max_backoff_s``."""
    max_backoff_s: float = 8.0
    max_retry_after_s: float = 60.0
    """A longer Retry-After is not waited for: the error is raised instead."""
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 503}))

    def wait_after_status(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before the next try, or None to give up with this answer."""
        if response.status_code not in self.statuses or attempt >= self.attempts:
            return None
        retry_after = _retry_after_s(response.headers.get("retry-after"))
        if retry_after is None:
            return self._backoff(attempt)
        return retry_after if retry_after <= self.max_retry_after_s else None

    def wait_after_error(self, error: httpx.TransportError, method: str, attempt: int) -> float | None:
        if attempt >= self.attempts:
            return None
        if isinstance(error, _NOT_SENT) or method.upper() in ("GET", "HEAD"):
            return self._backoff(attempt)
        return None

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311  (jitter, not secrets)


NO_RETRIES = RetryPolicy(attempts=1)


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
