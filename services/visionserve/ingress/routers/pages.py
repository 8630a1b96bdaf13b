"""The pages: the audit page, whose files are open since they hold no data (the page asks for a
key), and the API's documentation, whose script and style files are open for the same reason."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from visionserve.ingress import docs, routes, ui
from visionserve.ingress.routers.common import Router

router = Router()


@router.route(routes.UI_PAGE, include_in_schema=False)
async def ui_page() -> Response:
    """The audit page: predictions drawn on the image, explanations side by side."""
    return ui.page()


@router.route(routes.UI_ASSET, include_in_schema=False)
async def ui_asset(asset: str) -> Response:
    return ui.asset(asset)


@router.route(routes.DOCS_PAGE, include_in_schema=False)
async def docs_page(request: Request) -> Response:
    return docs.swagger_page(request.scope.get("root_path", "").rstrip("/"))


@router.route(routes.DOCS_OAUTH2_REDIRECT, include_in_schema=False)
async def docs_oauth2_redirect() -> Response:
    return docs.oauth2_redirect_page()


@router.route(routes.REDOC_PAGE, include_in_schema=False)
async def redoc_page(request: Request) -> Response:
    return docs.redoc_page(request.scope.get("root_path", "").rstrip("/"))


@router.route(routes.DOCS_ASSET, include_in_schema=False)
async def docs_asset(asset: str) -> Response:
    return docs.asset(asset)
