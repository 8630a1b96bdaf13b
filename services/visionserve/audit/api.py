"""The audit API's small pieces: time filters, page cursors, records on the wire (no Ray)."""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import datetime, timezone

from visionserve.audit.store import AuditRecord
from visionserve.errors import Unprocessable
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


def make_cursor(last: AuditRecord) -> str:
    raw = json.dumps([last.created, last.request_id]).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def parse_cursor(cursor: str | None) -> tuple[float, str] | None:
    if cursor is None:
        return None
    refused = Unprocessable("cursor is not one this API gave: pass next_cursor as it came")
    if len(cursor) > 512:
        raise refused
    try:
        created, request_id = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        created = float(created)
    except (ValueError, TypeError, binascii.Error, UnicodeError, RecursionError):
        raise refused from None
    if not isinstance(request_id, str) or not math.isfinite(created) or not request_id.isprintable():
        raise refused
    return created, request_id


def describe_record(record: AuditRecord) -> AuditRecordOut:
    return AuditRecordOut(
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
