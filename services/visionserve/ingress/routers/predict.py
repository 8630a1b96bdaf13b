"""Predictions: classify, detect, segment, embed and zero-shot, one handler a route."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from visionserve.errors import TooManyTexts
from visionserve.ingress import routes
from visionserve.ingress.catalog import Entry
from visionserve.ingress.gateway import Caller
from visionserve.ingress.requests import ParsedRequest, parse_json, parse_request
from visionserve.ingress.routers.common import Router, Services, caller, cited, services, typed
from visionserve.ingress.routes import Route
from visionserve.metrics import note_images
from visionserve.outputs import PredictOutput
from visionserve_client.types import (
    ClassifyResponse,
    DetectResponse,
    EmbedImageResponse,
    EmbedTextRequest,
    EmbedTextResponse,
    SegmentResponse,
    ZeroShotResponse,
)

router = Router()


async def predict_parsed(
    found: Services, who: Caller, parsed: ParsedRequest, row: Route, **extra: Any
) -> tuple[Entry, PredictOutput]:
    """The model's output for checked images and parameters (HTTP and gRPC alike)."""
    entry = found.catalog.model_for(parsed.model, row.tasks)
    note_images(parsed.images)
    output = await found.gateway.call(who, entry, "predict", parsed.images, {**parsed.params, **extra})
    return entry, output


async def _predict(request: Request, who: Caller, row: Route, **extra: Any) -> tuple[Entry, PredictOutput]:
    found = services(request)
    assert row.request is not None
    parsed = await parse_request(request, row.request, found.config.limits)
    return await predict_parsed(found, who, parsed, row, **extra)


@router.route(routes.CLASSIFY, response_model=ClassifyResponse)
async def classify(request: Request) -> Response:
    """Top-k classes for each image, in input order."""
    who = caller(request)
    entry, output = await _predict(request, who, routes.CLASSIFY)
    return typed(cited(ClassifyResponse, who.request_id, entry, output))


@router.route(routes.DETECT, response_model=DetectResponse)
async def detect(request: Request) -> Response:
    """Objects in each image: boxes [x1, y1, x2, y2] in original pixels, label, score."""
    who = caller(request)
    entry, output = await _predict(request, who, routes.DETECT)
    return typed(cited(DetectResponse, who.request_id, entry, output))


@router.route(routes.SEGMENT, response_model=SegmentResponse)
async def segment(request: Request) -> Response:
    """Semantic segmentation (classes with pixel share and RLE masks, label map on request)
    or instance segmentation (boxes, labels, scores, RLE masks), by the model's kind."""
    who = caller(request)
    entry, output = await _predict(request, who, routes.SEGMENT)
    return typed(cited(SegmentResponse, who.request_id, entry, output))


@router.route(routes.EMBED_IMAGE, response_model=EmbedImageResponse)
async def embed_image(request: Request) -> Response:
    """L2-normalised image embeddings of a CLIP model, one per image."""
    who = caller(request)
    entry, output = await _predict(request, who, routes.EMBED_IMAGE, mode="embed")
    return typed(cited(EmbedImageResponse, who.request_id, entry, output))


@router.route(routes.ZERO_SHOT, response_model=ZeroShotResponse)
async def zero_shot(request: Request) -> Response:
    """Scores of each image against the given labels (or a configured label set)."""
    who = caller(request)
    entry, output = await _predict(request, who, routes.ZERO_SHOT, mode="zero_shot")
    return typed(cited(ZeroShotResponse, who.request_id, entry, output))


async def embed_texts(found: Services, who: Caller, body: EmbedTextRequest) -> tuple[Entry, PredictOutput]:
    limit = found.config.limits.max_texts_per_request
    if len(body.texts) > limit:
        raise TooManyTexts(f"{len(body.texts)} texts in one request, over the limit of {limit}")
    entry = found.catalog.model_for(body.model, routes.EMBED_TEXT.tasks)
    params = body.model_dump(exclude={"texts", "model"}, exclude_none=True)
    return entry, await found.gateway.call(who, entry, "embed_texts", body.texts, params)


@router.route(routes.EMBED_TEXT, response_model=EmbedTextResponse)
async def embed_text(request: Request) -> Response:
    """L2-normalised text embeddings of a CLIP model, one per text (JSON body)."""
    found = services(request)
    body = await parse_json(request, EmbedTextRequest, found.config.limits)
    who = caller(request)
    entry, output = await embed_texts(found, who, body)
    return typed(cited(EmbedTextResponse, who.request_id, entry, output))
