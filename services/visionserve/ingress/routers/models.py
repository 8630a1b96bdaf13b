"""What is served: the models and their label sets, and whether the service is up and ready."""

from __future__ import annotations

import asyncio

from fastapi import Request
from fastapi.responses import Response

from visionserve.ingress import routes
from visionserve.ingress.catalog import Entry
from visionserve.ingress.routers.common import Router, Services, services, typed
from visionserve_client.types import Health, ModelInfo, ModelLabels, ModelList, Readiness

router = Router()


async def describe(found: Services, entry: Entry) -> ModelInfo:
    return await found.gateway.info(entry, found.catalog.explain_methods.get(entry.name, []))


async def describe_all(found: Services) -> list[ModelInfo]:
    return list(await asyncio.gather(*(describe(found, e) for e in found.catalog.entries)))


@router.route(routes.MODELS, response_model=ModelList)
async def models(request: Request) -> Response:
    return typed(ModelList(models=await describe_all(services(request))))


@router.route(routes.MODEL, response_model=ModelInfo)
async def model(request: Request, name: str) -> Response:
    found = services(request)
    return typed(await describe(found, found.catalog.entry(name)))


@router.route(routes.MODEL_LABELS, response_model=ModelLabels)
async def labels(request: Request, name: str) -> Response:
    """The model's label set, in the order of its class indices (empty for a model without
    one, such as a CLIP model without a configured label set)."""
    found = services(request)
    entry = found.catalog.entry(name)
    answer: ModelLabels = await found.gateway.quick(entry.name, "labels")
    return typed(answer)


@router.route(routes.HEALTHZ, response_model=Health)
async def healthz() -> Response:
    """The HTTP service is up (says nothing about the models)."""
    return typed(Health(status="ok"))


@router.route(routes.READYZ, response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(request: Request) -> Response:
    """Every model loaded and answering; 503 with the reasons otherwise."""
    infos = await describe_all(services(request))
    readiness = Readiness(
        ready=all(i.ready for i in infos),
        models={i.name: i.ready for i in infos},
        errors={i.name: i.error for i in infos if i.error},
    )
    return typed(readiness, status_code=200 if readiness.ready else 503)
