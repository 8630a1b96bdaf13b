"""The Open Inference Protocol v2 (KServe, Triton) on the same models; the protocol itself is
``visionserve.ingress.oip``."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from visionserve.config import PipelineConfig
from visionserve.errors import Unprocessable
from visionserve.ingress import oip, routes
from visionserve.ingress.routers.common import Router, caller, services
from visionserve.ingress.routers.models import describe, describe_all
from visionserve.metrics import note_images

router = Router()

# The schema each task's request parameters are checked against: its /v1 route's.
_SCHEMAS: dict[str, type[BaseModel]] = {
    task: row.request
    for row in (routes.CLASSIFY, routes.DETECT, routes.SEGMENT)
    if row.request is not None
    for task in row.tasks
}


@router.route(routes.V2_LIVE)
async def v2_live() -> dict[str, bool]:
    return {"live": True}


@router.route(routes.V2_READY)
async def v2_ready(request: Request) -> Response:
    ready = all(i.ready for i in await describe_all(services(request)))
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


@router.route(routes.V2_MODEL)
async def v2_model(request: Request, name: str) -> dict[str, Any]:
    found = services(request)
    entry = found.catalog.oip_entry(name)
    info = await describe(found, entry)
    return {
        "name": name,
        "versions": [info.model_version] if info.model_version else [],
        "platform": "visionserve",
        "inputs": [{"name": "images", "datatype": "BYTES", "shape": [-1]}],
        "outputs": oip.output_metadata(entry.task),
    }


@router.route(routes.V2_MODEL_READY)
async def v2_model_ready(request: Request, name: str) -> Response:
    found = services(request)
    info = await describe(found, found.catalog.oip_entry(name))
    return JSONResponse({"name": name, "ready": info.ready}, status_code=200 if info.ready else 503)


@router.route(routes.V2_INFER)
async def v2_infer(name: str, request: Request) -> Response:
    """Encoded images as a BYTES tensor (binary extension or base64 JSON), or UINT8 pixels."""
    found = services(request)
    entry = found.catalog.oip_entry(name)
    parsed = await oip.parse_infer(request, found.config.limits, _SCHEMAS[entry.task])
    note_images(parsed.pixels or parsed.images)
    who = caller(request)
    if parsed.pixels:
        if isinstance(entry, PipelineConfig):
            raise Unprocessable(f"pipeline {name!r} takes image files: send a BYTES input")
        output = await found.gateway.call(who, entry, "predict_pixels", parsed.pixels, parsed.params)
    else:
        output = await found.gateway.call(who, entry, "predict", parsed.images, parsed.params)
    results = [r.model_dump(mode="json") for r in output.results]
    return oip.infer_response(parsed, name, output.model_version, who.request_id, entry.task, results)
