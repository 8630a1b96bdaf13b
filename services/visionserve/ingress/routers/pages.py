"""The audit page's files: open, since they hold no data (the page asks for a key)."""

from __future__ import annotations

from fastapi.responses import Response

from visionserve.ingress import routes, ui
from visionserve.ingress.routers.common import Router

router = Router()


@router.route(routes.UI_PAGE, include_in_schema=False)
async def ui_page() -> Response:
    """The audit page: predictions drawn on the image, explanations side by side."""
    return ui.page()


@router.route(routes.UI_ASSET, include_in_schema=False)
async def ui_asset(asset: str) -> Response:
    return ui.asset(asset)
