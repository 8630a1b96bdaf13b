"""The audit trail: recorded predictions, explaining one again, and the writer's status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from visionserve_client import _calls as calls
from visionserve_client.types import AuditPage, AuditRecord, AuditStatus, ExplainMethod, ExplainResponse

from ._base import AsyncClientBase


class AsyncAudit(AsyncClientBase):
    async def audit_predictions(
        self,
        *,
        model: str | None = None,
        model_version: str | None = None,
        label: str | None = None,
        since: str | float | None = None,
        until: str | float | None = None,
        request_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        timeout: float | None = None,
    ) -> AuditPage:
        """Recorded predictions, newest first (``since``/``until``: ISO 8601 or Unix seconds;
        ``request_id``: every record of that caller's id); pass the page's ``next_cursor`` as
        ``cursor`` for the next page."""
        filters = {
            "model": model,
            "model_version": model_version,
            "label": label,
            "since": since,
            "until": until,
            "request_id": request_id,
            "limit": limit,
            "cursor": cursor,
        }
        return await self._send(calls.audit_predictions(**filters), timeout)

    async def audit_prediction(self, record_id: str, *, timeout: float | None = None) -> AuditRecord:
        """One recorded prediction, by its record_id, or by the request_id its response carried
        when no other request sent the same one (else ``ConflictError``, 409, naming the
        record_ids; ``audit_predictions(request_id=...)`` lists them)."""
        return await self._send(calls.audit_prediction(record_id), timeout)

    async def explain_recorded(
        self,
        record_id: str,
        *,
        methods: Sequence[ExplainMethod] = ("gradcam",),
        image: int = 0,
        target_class: int | None = None,
        target_label: str | None = None,
        target_text: str | None = None,
        target_box: Sequence[float] | None = None,
        options: Mapping[str, float | int | str] | None = None,
        timeout: float | None = None,
    ) -> ExplainResponse:
        """Explain a recorded prediction (its record_id, or a request_id that names only it) from
        its kept image with the same model version."""
        body = {
            "methods": list(methods),
            "image": image,
            "target_class": target_class,
            "target_label": target_label,
            "target_text": target_text,
            "target_box": list(target_box) if target_box is not None else None,
            **dict(options or {}),
        }
        return await self._send(calls.explain_recorded(record_id, **body), timeout)

    async def audit_status(self, *, timeout: float | None = None) -> AuditStatus:
        """The answering ingress replica's audit writer: written, dropped, failing."""
        return await self._send(calls.audit_status(), timeout)
