"""Explanations: why the model decided, at once or as a stream of progress events."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from visionserve.ingress import routes
from visionserve.ingress.catalog import Entry
from visionserve.ingress.gateway import Caller
from visionserve.ingress.requests import ParsedRequest, parse_request
from visionserve.ingress.routers.common import Router, Services, caller, cited, services, typed
from visionserve.metrics import note_images
from visionserve.outputs import PredictOutput
from visionserve_client.types import ExplainRequest, ExplainResponse, ExplainResultEvent

router = Router()


async def explain_parsed(found: Services, who: Caller, parsed: ParsedRequest) -> ExplainResponse:
    """The explanation of checked images and parameters (HTTP, gRPC and the audit trail)."""
    entry = found.catalog.explainable(parsed.model, len(parsed.images), parsed.params)
    note_images(parsed.images)
    args = (entry.name, parsed.images, parsed.params)
    output = await found.gateway.explainer(who, entry, "explain", *args)
    return cited(ExplainResponse, who.request_id, entry, output)


@router.route(routes.EXPLAIN, response_model=ExplainResponse)
async def explain(request: Request) -> Response:
    """Why the model decided: maps of the chosen methods for a class, segment or text query."""
    found = services(request)
    parsed = await parse_request(request, ExplainRequest, found.config.limits)
    return typed(await explain_parsed(found, caller(request), parsed))


@router.route(
    routes.EXPLAIN_STREAM,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "NDJSON: ProgressEvent lines, then one ExplainResultEvent or ErrorEvent.",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
async def explain_stream(request: Request) -> StreamingResponse:
    """/v1/explain with progress: newline-delimited JSON events while the methods run, then
    the same response as /v1/explain. A bad request is still its 4xx; closing the
    connection cancels the work."""
    found = services(request)
    parsed = await parse_request(request, ExplainRequest, found.config.limits)
    entry: Entry = found.catalog.explainable(parsed.model, len(parsed.images), parsed.params)
    note_images(parsed.images)
    who = caller(request)

    def result_line(output: PredictOutput) -> bytes:
        response = cited(ExplainResponse, who.request_id, entry, output)
        return ExplainResultEvent(response=response).model_dump_json().encode() + b"\n"

    args = (entry.name, parsed.images, parsed.params)
    events = await found.gateway.stream(who, "explain_stream", args, result_line)
    return StreamingResponse(events, media_type="application/x-ndjson")
