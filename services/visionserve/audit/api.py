"""The audit API's small pieces: time filters, page cursors, which record an id names, records on
the wire (no Ray)."""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import datetime, timezone

from visionserve.audit.store import AuditRecord
from visionserve.errors import AmbiguousRequestId, PredictionNotFound, Unprocessable
from visionserve_client.types import AuditImage
from visionserve_client.types import AuditRecord as AuditRecordOut


def parse_time(name: str, value: str | None) -> float | None:
    """Unix seconds, or ISO 8601 (no zone: UTC); 422 otherwise."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Unprocessable(
            f"{name} must be ISO 8601 (2026-11-24T10:00:00Z) or Unix seconds, got {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


# At most this many record_ids are named when a request_id is ambiguous.
NAMED_RECORDS = 10


def make_cursor(last: AuditRecord) -> str:
    """The page's end as (created, record_id): record_ids are unique, so ties in time page once."""
    raw = json.dumps([last.created, last.record_id]).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def parse_cursor(cursor: str | None) -> tuple[float, str] | None:
    if cursor is None:
        return None
    refused = Unprocessable("cursor is not one this API gave: pass next_cursor as it came")
    if len(cursor) > 512:
        raise refused
    try:
        created, record_id = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        created = float(created)
    except (ValueError, TypeError, binascii.Error, UnicodeError, RecursionError):
        raise refused from None
    if not isinstance(record_id, str) or not math.isfinite(created) or not record_id.isprintable():
        raise refused
    return created, record_id


def the_record(asked: str, found: list[AuditRecord]) -> AuditRecord:
    """The one record ``asked`` names (``found``: the store's ``find``, up to NAMED_RECORDS + 1);
    404 for none, 409 naming their record_ids when callers sent that request_id several times."""
    if not found:
        raise PredictionNotFound(f"no recorded prediction {asked!r}")
    if len(found) == 1:
        return found[0]
    named = ", ".join(r.record_id for r in found[:NAMED_RECORDS])
    more = " and more" if len(found) > NAMED_RECORDS else ""
    raise AmbiguousRequestId(
        f"request_id {asked!r} names several recorded predictions (record_ids: {named}{more}): "
        "ask for one by its record_id; GET /v1/audit/predictions?request_id= lists them all"
    )


def describe_record(record: AuditRecord) -> AuditRecordOut:
    return AuditRecordOut(
        record_id=record.record_id,
        request_id=record.request_id,
        created=record.created,
        created_at=datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat().replace("+00:00", "Z"),
        endpoint=record.endpoint,
        model=record.model,
        model_version=record.model_version,
        caller=record.caller,
        latency_ms=record.latency_ms,
        params=record.params,
        images=[AuditImage(**i) for i in record.images],
        labels=record.labels,
        response=record.response,
        image_kept=record.image_kept,
    )
