"""The Open Inference Protocol v2 (KServe, Triton) on the same models; the protocol itself is
``visionserve.ingress.oip``. What REST and gRPC (``ingress.grpc_oip``) share is here, in the
functions of ``Services``: which models are served, in which version, and whether ready."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from visionserve.config import PipelineConfig
from visionserve.errors import BadRequest, ModelNotFound, ModelUnavailable, Unprocessable
from visionserve.ingress import oip, routes
from visionserve.ingress.catalog import Entry
from visionserve.ingress.errors import shown
from visionserve.ingress.gateway import Caller
from visionserve.ingress.oip_metadata import model_config, model_metadata, repository_entry, server_metadata
from visionserve.ingress.requests import json_document, read_body
from visionserve.ingress.routers.common import Router, Services, caller, services
from visionserve.ingress.routers.models import describe, describe_all
from visionserve.metrics import note_images
from visionserve_client.types import ModelInfo

router = Router()

# The schema each task's request parameters are checked against: its /v1 route's.
SCHEMAS: dict[str, type[BaseModel]] = {
    task: row.request
    for row in (routes.CLASSIFY, routes.DETECT, routes.SEGMENT)
    if row.request is not None
    for task in row.tasks
}


@router.route(routes.V2_LIVE)
async def v2_live() -> dict[str, bool]:
    return {"live": True}


async def server_ready(found: Services) -> bool:
    return all(i.ready for i in await describe_all(found))


@router.route(routes.V2_READY)
async def v2_ready(request: Request) -> Response:
    ready = await server_ready(services(request))
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


@router.route(routes.V2_SERVER)
async def v2_server() -> dict[str, Any]:
    return server_metadata()


async def repository(found: Services, only_ready: bool) -> list[dict[str, Any]]:
    """Every model served on /v2 (only those ready now if ``only_ready``), as index entries."""
    served = [e for e in found.catalog.entries if e.task in routes.V2_TASKS]
    infos = await asyncio.gather(*(describe(found, e) for e in served))
    listed = [i for i in infos if i.ready or not only_ready]
    return [repository_entry(i.name, i.model_version, i.ready, i.error) for i in listed]


@router.route(routes.V2_REPOSITORY_INDEX)
async def v2_repository_index(request: Request) -> list[dict[str, Any]]:
    """Every model served on /v2, ready or not (``{"ready": true}`` in the body: ready ones)."""
    found = services(request)
    body = await read_body(request, found.config.limits.max_body_bytes)
    only_ready = False
    if body.strip():
        try:
            document = json_document(body)
        except ValueError as exc:
            raise BadRequest(f"malformed JSON: {exc}") from None
        if not isinstance(document, dict) or not isinstance(document.get("ready", False), bool):
            raise Unprocessable("the body must be an object, whose 'ready' is true or false")
        only_ready = document.get("ready", False)
    return await repository(found, only_ready)


async def served(found: Services, name: str, version: str | None) -> tuple[Entry, ModelInfo]:
    """The model (served on /v2) and what it is; a version it does not serve is a 404."""
    entry = found.catalog.oip_entry(name)
    info = await describe(found, entry)
    if version is not None and version != info.model_version:
        if not info.ready:  # its version is not known now: not a wrong version
            raise ModelUnavailable(f"model {name!r} is not ready: {info.error or 'loading'}; retry shortly")
        serves = f"version {info.model_version!r}" if info.model_version else "no numbered version"
        raise ModelNotFound(f"model {name!r} has no version {shown(version)!r}: it serves {serves}")
    return entry, info


async def metadata(found: Services, name: str, version: str | None) -> dict[str, Any]:
    entry, info = await served(found, name, version)
    return model_metadata(name, info.model_version, entry.task, isinstance(entry, PipelineConfig))


async def config(found: Services, name: str, version: str | None) -> dict[str, Any]:
    entry, info = await served(found, name, version)
    return model_config(name, info.model_version, entry.task, isinstance(entry, PipelineConfig))


async def infer(
    found: Services, who: Caller, entry: Entry, parsed: oip.InferRequest
) -> tuple[str, list[Any]]:
    """The model's version and its results (dicts, as /v1 answers them) for a checked request."""
    note_images(parsed.pixels or parsed.images)
    if parsed.pixels:
        output = await found.gateway.call(who, entry, "predict_pixels", parsed.pixels, parsed.params)
    else:
        output = await found.gateway.call(who, entry, "predict", parsed.images, parsed.params)
    return output.model_version, [r.model_dump(mode="json") for r in output.results]


async def _metadata(request: Request, name: str, version: str | None) -> dict[str, Any]:
    return await metadata(services(request), name, version)


async def _ready(request: Request, name: str, version: str | None) -> Response:
    _, info = await served(services(request), name, version)
    return JSONResponse({"name": name, "ready": info.ready}, status_code=200 if info.ready else 503)


async def _config(request: Request, name: str, version: str | None) -> dict[str, Any]:
    return await config(services(request), name, version)


# Each view twice: for the served version, and under /versions/{version} for a named one.
@router.route(routes.V2_MODEL)
async def v2_model(request: Request, name: str) -> dict[str, Any]:
    return await _metadata(request, name, None)


@router.route(routes.V2_VERSION)
async def v2_version(request: Request, name: str, version: str) -> dict[str, Any]:
    return await _metadata(request, name, version)


@router.route(routes.V2_MODEL_READY)
async def v2_model_ready(request: Request, name: str) -> Response:
    return await _ready(request, name, None)


@router.route(routes.V2_VERSION_READY)
async def v2_version_ready(request: Request, name: str, version: str) -> Response:
    return await _ready(request, name, version)


@router.route(routes.V2_MODEL_CONFIG)
async def v2_model_config(request: Request, name: str) -> dict[str, Any]:
    return await _config(request, name, None)


@router.route(routes.V2_VERSION_CONFIG)
async def v2_version_config(request: Request, name: str, version: str) -> dict[str, Any]:
    return await _config(request, name, version)


@router.route(routes.V2_INFER)
async def v2_infer(name: str, request: Request) -> Response:
    """Encoded images as a BYTES tensor (binary extension or base64 JSON), or UINT8 pixels."""
    return await _infer(request, services(request).catalog.oip_entry(name))


@router.route(routes.V2_VERSION_INFER)
async def v2_version_infer(name: str, version: str, request: Request) -> Response:
    """The same, for the version the model serves."""
    entry, _ = await served(services(request), name, version)
    return await _infer(request, entry)


async def _infer(request: Request, entry: Entry) -> Response:
    found = services(request)
    pipeline = isinstance(entry, PipelineConfig)
    parsed = await oip.parse_infer(request, found.config.limits, entry.task, SCHEMAS[entry.task], pipeline)
    who = caller(request)
    version, results = await infer(found, who, entry, parsed)
    return oip.infer_response(parsed, entry.name, version, who.request_id, entry.task, results)
