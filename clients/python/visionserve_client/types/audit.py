"""The audit trail: recorded predictions, the writer's status, and explaining a record again."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from visionserve_client.types.common import _Schema
from visionserve_client.types.explanations import ExplainOptions


class AuditImage(_Schema):
    sha256: str
    bytes: int = Field(ge=0)
    width: int | None = None
    height: int | None = None


class AuditRecord(_Schema):
    """One recorded prediction: what an auditor cites and compares."""

    record_id: str = Field(description="The record's own id, unique: the service makes it.")
    request_id: str = Field(
        description="The caller's correlation id (x-request-id, or one the service made); "
        "a caller that sends one id several times has several records with it."
    )
    created: float = Field(description="Unix time, seconds.")
    created_at: str = Field(description="The same, ISO 8601 UTC.")
    endpoint: str
    model: str
    model_version: str
    caller: str | None = Field(description="The API key's name (never the key); none without keys.")
    latency_ms: float
    params: dict[str, Any]
    images: list[AuditImage]
    labels: list[str] = Field(description="Every label the answer named.")
    response: dict[str, Any] = Field(description="The answer without masks, label maps or embedding vectors.")
    image_kept: bool = Field(description="Whether the input images were kept (so it can be explained).")


class AuditPage(_Schema):
    records: list[AuditRecord] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; none at the end.")


class AuditStatus(_Schema):
    """The audit writer of the ingress replica that answered."""

    enabled: bool
    store: Literal["sqlite", "postgresql"]
    on_failure: Literal["open", "closed"]
    buffered: int
    written: int
    dropped: dict[str, int]
    deleted: dict[str, int]
    failing: bool
    last_error: str | None = None


class AuditExplainRequest(ExplainOptions):
    """``POST /v1/audit/predictions/{record_id}/explain``: which methods and target, as /v1/explain
    (the same options; the image and the model are the record's)."""

    image: int = Field(default=0, ge=0, description="Which image of the recorded request.")
