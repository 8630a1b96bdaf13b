"""The audit trail: recorded predictions, found again and explained with the same weights."""

from __future__ import annotations

import asyncio

from fastapi import Query, Request
from fastapi.responses import Response

from visionserve.audit.api import (
    NAMED_RECORDS,
    describe_record,
    make_cursor,
    parse_cursor,
    parse_time,
    the_record,
)
from visionserve.audit.store import AuditRecord
from visionserve.audit.store import Query as AuditQuery
from visionserve.errors import CannotExplainRecord, Unprocessable
from visionserve.ingress import routes
from visionserve.ingress.requests import ParsedRequest, parse_json
from visionserve.ingress.routers.common import Router, Services, caller, services, typed
from visionserve.ingress.routers.explain import explain_parsed
from visionserve.ingress.routers.models import describe
from visionserve_client.types import (
    AuditExplainRequest,
    AuditPage,
    AuditStatus,
    ExplainResponse,
)
from visionserve_client.types import AuditRecord as AuditRecordOut

router = Router()


@router.route(routes.AUDIT_PREDICTIONS, response_model=AuditPage)
async def audit_predictions(
    request: Request,
    model: str | None = None,
    model_version: str | None = None,
    label: str | None = None,
    since: str | None = None,
    until: str | None = None,
    request_id: str | None = None,
    limit: int = Query(default=50, ge=1),
    cursor: str | None = None,
) -> Response:
    """Recorded predictions, newest first, filtered; ``next_cursor`` pages on."""
    found = services(request)
    audit = found.auditor()
    if limit > found.config.audit.max_page_size:
        raise Unprocessable(
            f"limit {limit} is over the page size limit of {found.config.audit.max_page_size}"
        )
    query = AuditQuery(
        model=model,
        model_version=model_version,
        label=label,
        since=parse_time("since", since),
        until=parse_time("until", until),
        request_id=request_id,
        limit=limit,
        after=parse_cursor(cursor),
    )
    records = await asyncio.to_thread(audit.store.query, query)
    last = records[-1] if len(records) == limit else None
    page = AuditPage(
        records=[describe_record(r) for r in records],
        next_cursor=make_cursor(last) if last is not None else None,
    )
    return typed(page)


async def _recorded(found: Services, record_id: str) -> AuditRecord:
    """The record with this record_id, or the one record with this request_id."""
    records = await asyncio.to_thread(found.auditor().store.find, record_id, NAMED_RECORDS + 1)
    return the_record(record_id, records)


@router.route(routes.AUDIT_PREDICTION, response_model=AuditRecordOut)
async def audit_prediction(request: Request, record_id: str) -> Response:
    """One record, by its record_id or by a request_id that names only it (409 otherwise)."""
    return typed(describe_record(await _recorded(services(request), record_id)))


@router.route(routes.AUDIT_EXPLAIN, response_model=ExplainResponse)
async def audit_explain(record_id: str, request: Request) -> Response:
    """Explain a recorded prediction: its kept image, the same model version."""
    found = services(request)
    audit = found.auditor()
    body = await parse_json(request, AuditExplainRequest, found.config.limits)
    record = await _recorded(found, record_id)
    if body.image >= len(record.images):
        raise Unprocessable(f"image {body.image} is out of range: the request had {len(record.images)}")
    data = audit.images.load(record.images[body.image]["sha256"]) if audit.images is not None else None
    if not record.image_kept or data is None:
        raise CannotExplainRecord(
            "the input image of this prediction was not kept (audit.keep_images, or past "
            "audit.image_retention_days): it cannot be explained again"
        )
    info = await describe(found, found.catalog.entry(record.model))
    if info.model_version != record.model_version:
        raise CannotExplainRecord(
            f"model {record.model} now runs version {info.model_version[:12]}, not the recorded "
            f"{record.model_version[:12]}: load those weights to explain it"
        )
    params = body.model_dump(exclude={"image"}, exclude_none=True)
    parsed = ParsedRequest(images=[data], params=params, model=record.model)
    return typed(await explain_parsed(found, caller(request), parsed))


@router.route(routes.AUDIT_STATUS, response_model=AuditStatus)
async def audit_status(request: Request) -> Response:
    found = services(request)
    cfg, audit = found.config.audit, found.audit
    counts = audit.counts if audit is not None else None
    status = AuditStatus(
        enabled=audit is not None,
        store=cfg.store,
        on_failure=cfg.on_failure,
        buffered=audit.buffered if audit is not None else 0,
        written=counts.written if counts else 0,
        dropped=dict(counts.dropped) if counts else {},
        deleted=dict(counts.deleted) if counts else {},
        failing=counts.failing if counts else False,
        last_error=counts.last_error if counts else None,
    )
    return typed(status)
