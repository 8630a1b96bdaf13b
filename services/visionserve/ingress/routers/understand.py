"""The understanding views, computed on the explainer: what a model learnt, beyond one decision."""

from __future__ import annotations

from typing import Literal, TypeVar

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from visionserve.ingress import routes
from visionserve.ingress.requests import (
    ParsedRequest,
    b64_image,
    check_images,
    parse_json,
    parse_request,
    read_named_files,
)
from visionserve.ingress.routers.common import Router, caller, services, typed, viewed
from visionserve.ingress.routes import Route
from visionserve.outputs import PredictOutput
from visionserve_client.types import (
    ClassModelResponse,
    DeepDreamResponse,
    FeatureMapResponse,
    FiltersResponse,
    InversionResponse,
    NeighboursResponse,
    ReferenceSetInfo,
    ReferenceSetList,
    ReferenceSetRequest,
    RolloutResponse,
    TopPatchesResponse,
    UnderstandResultEvent,
)

router = Router()
ResponseT = TypeVar("ResponseT", bound=BaseModel)
Images = Literal["required", "optional", "none"]


async def _view_request(request: Request, row: Route, images: Images) -> ParsedRequest:
    """A view's images and parameters: a multipart, JSON or raw image body where images are
    required (or optional and sent so), a JSON document otherwise."""
    assert row.request is not None
    limits = services(request).config.limits
    json_body = request.headers.get("content-type", "").startswith("application/json")
    if images == "required" or (images == "optional" and not json_body):
        return await parse_request(request, row.request, limits)
    body = await parse_json(request, row.request, limits)
    encoded = getattr(body, "images", None) or []
    decoded = [b64_image(item, i) for i, item in enumerate(encoded)]
    if decoded:
        check_images(decoded, limits)
    params = body.model_dump(exclude={"images", "model"}, exclude_none=True)
    return ParsedRequest(images=decoded, params=params, model=getattr(body, "model", None))


async def _understand(
    request: Request, row: Route, view: str, images: Images, schema: type[ResponseT]
) -> ResponseT:
    found = services(request)
    parsed = await _view_request(request, row, images)
    entry = found.catalog.understandable(parsed.model)
    who = caller(request)
    output = await found.gateway.explainer(
        who, entry, "understand", view, entry.name, parsed.images, parsed.params
    )
    return viewed(schema, who.request_id, entry, output)


async def _stream(
    request: Request, row: Route, view: str, images: Images, schema: type[BaseModel]
) -> StreamingResponse:
    found = services(request)
    parsed = await _view_request(request, row, images)
    entry = found.catalog.understandable(parsed.model)
    who = caller(request)

    def result_line(output: PredictOutput) -> bytes:
        response = viewed(schema, who.request_id, entry, output)
        return UnderstandResultEvent(response=response).model_dump_json().encode() + b"\n"  # type: ignore[arg-type]

    args = (view, entry.name, parsed.images, parsed.params)
    events = await found.gateway.stream(who, "understand_stream", args, result_line)
    return StreamingResponse(events, media_type="application/x-ndjson")


@router.route(routes.FILTERS, response_model=FiltersResponse)
async def understand_filters(request: Request, model: str | None = None) -> Response:
    """The first convolution's weights, exactly, and as a grid of tiles."""
    found = services(request)
    entry = found.catalog.understandable(model)
    who = caller(request)
    output = await found.gateway.explainer(who, entry, "understand", "filters", entry.name, [], {})
    return typed(viewed(FiltersResponse, who.request_id, entry, output))


@router.route(routes.CREATE_REFERENCE_SET, response_model=ReferenceSetInfo, status_code=201)
async def create_reference_set(request: Request) -> Response:
    """A named set of reference images: multipart ``images`` files and a ``name`` field, or
    JSON ``{"name", "folder"}`` for a folder under understand.folder_roots."""
    found = services(request)
    found.catalog.reference_sets()
    limits = found.config.limits
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await parse_json(request, ReferenceSetRequest, limits)
        args: tuple[object, ...] = (body.name, None, body.folder)
    else:
        name, files = await read_named_files(request, limits, found.config.explainer.understand)
        args = (name, files, None)
    made = await found.gateway.quick(None, "create_reference_set", *args, timeout=limits.explain_timeout_s)
    return typed(ReferenceSetInfo(**made), status_code=201)


@router.route(routes.REFERENCE_SETS, response_model=ReferenceSetList)
async def reference_sets(request: Request) -> Response:
    found = services(request)
    found.catalog.reference_sets()
    listed = await found.gateway.quick(None, "reference_sets")
    return typed(ReferenceSetList(reference_sets=[ReferenceSetInfo(**s) for s in listed]))


@router.route(routes.REFERENCE_SET, response_model=ReferenceSetInfo)
async def reference_set(request: Request, set_id: str) -> Response:
    found = services(request)
    found.catalog.reference_sets()
    return typed(ReferenceSetInfo(**await found.gateway.quick(None, "reference_set", set_id)))


@router.route(routes.DELETE_REFERENCE_SET, status_code=204)
async def delete_reference_set(request: Request, set_id: str) -> Response:
    found = services(request)
    found.catalog.reference_sets()
    await found.gateway.quick(None, "delete_reference_set", set_id)
    return Response(status_code=204)


@router.route(routes.NEIGHBOURS, response_model=NeighboursResponse)
async def understand_neighbours(request: Request) -> Response:
    """Nearest images of a reference set to a query image, or to one of the set's own."""
    return typed(await _understand(request, routes.NEIGHBOURS, "neighbours", "optional", NeighboursResponse))


@router.route(routes.FEATURE_MAP, response_model=FeatureMapResponse)
async def understand_map(request: Request) -> Response:
    """A reference set laid out in 2-D by PCA or t-SNE of its embeddings, with a picture."""
    return typed(await _understand(request, routes.FEATURE_MAP, "map", "none", FeatureMapResponse))


@router.route(routes.TOP_PATCHES, response_model=TopPatchesResponse)
async def understand_top_patches(request: Request) -> Response:
    """The reference images that most excite one channel of a layer, cropped to what it sees."""
    return typed(await _understand(request, routes.TOP_PATCHES, "top_patches", "none", TopPatchesResponse))


@router.route(routes.CLASS_MODEL, response_model=ClassModelResponse)
async def understand_class_model(request: Request) -> Response:
    """An image made by gradient ascent on a class's score (Simonyan 2014, Yosinski 2015)."""
    return typed(await _understand(request, routes.CLASS_MODEL, "class_model", "none", ClassModelResponse))


@router.route(routes.CLASS_MODEL_STREAM, response_class=StreamingResponse)
async def understand_class_model_stream(request: Request) -> StreamingResponse:
    """The same, as NDJSON progress events and a result event; closing it cancels the work."""
    return await _stream(request, routes.CLASS_MODEL_STREAM, "class_model", "none", ClassModelResponse)


@router.route(routes.INVERSION, response_model=InversionResponse)
async def understand_inversion(request: Request) -> Response:
    """An image rebuilt from a layer's features with a total-variation prior (Mahendran 2014)."""
    return typed(await _understand(request, routes.INVERSION, "inversion", "required", InversionResponse))


@router.route(routes.INVERSION_STREAM, response_class=StreamingResponse)
async def understand_inversion_stream(request: Request) -> StreamingResponse:
    return await _stream(request, routes.INVERSION_STREAM, "inversion", "required", InversionResponse)


@router.route(routes.DEEPDREAM, response_model=DeepDreamResponse)
async def understand_deepdream(request: Request) -> Response:
    """The image with a layer's activations amplified, over octaves (DeepDream)."""
    return typed(await _understand(request, routes.DEEPDREAM, "deepdream", "required", DeepDreamResponse))


@router.route(routes.DEEPDREAM_STREAM, response_class=StreamingResponse)
async def understand_deepdream_stream(request: Request) -> StreamingResponse:
    return await _stream(request, routes.DEEPDREAM_STREAM, "deepdream", "required", DeepDreamResponse)


@router.route(routes.ATTENTION_ROLLOUT, response_model=RolloutResponse)
async def understand_attention_rollout(request: Request) -> Response:
    """Where a vision transformer's class token draws from, through all its blocks."""
    return typed(
        await _understand(request, routes.ATTENTION_ROLLOUT, "attention_rollout", "required", RolloutResponse)
    )
