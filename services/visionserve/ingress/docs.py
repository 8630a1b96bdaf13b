"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), whose script and style
files come from the fastapi-offline package, installed with the service: the pages load on a
machine without internet. FastAPI's defaults fetch both libraries from a CDN and ReDoc's fonts
from Google; ReDoc's own bundle still links its logo from its CDN, which the pages' content
security policy refuses with everything else that is not the service's.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files

from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from visionserve.ingress.routes import DOCS_ASSET, DOCS_OAUTH2_REDIRECT, OPENAPI

_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_ASSET_PREFIX = DOCS_ASSET.path.removesuffix("{asset}")
TITLE = "VisionServe"


_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def _own_files_only(page: HTMLResponse) -> HTMLResponse:
    """The page, allowed the service's own files and its own inline scripts (by their hash),
    nothing else: no CDN, no fonts, no images from elsewhere. Styles may be inline, as both
    libraries write them; ReDoc's search runs in a worker made from a blob."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page.body)
    )
    page.headers["content-security-policy"] = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    page.headers["x-content-type-options"] = "nosniff"
    return page


def swagger_page(root_path: str) -> HTMLResponse:
    """``root_path``: where the application is mounted (an application's route prefix)."""
    assets = root_path + _ASSET_PREFIX
    return _own_files_only(
        get_swagger_ui_html(
            openapi_url=root_path + OPENAPI.path,
            title=f"{TITLE} - Swagger UI",
            swagger_js_url=assets + "swagger-ui-bundle.js",
            swagger_css_url=assets + "swagger-ui.css",
            swagger_favicon_url=assets + "favicon.png",
            oauth2_redirect_url=root_path + DOCS_OAUTH2_REDIRECT.path,
        )
    )


def oauth2_redirect_page() -> HTMLResponse:
    return _own_files_only(get_swagger_ui_oauth2_redirect_html())


def redoc_page(root_path: str) -> HTMLResponse:
    assets = root_path + _ASSET_PREFIX
    return _own_files_only(
        get_redoc_html(
            openapi_url=root_path + OPENAPI.path,
            title=f"{TITLE} - ReDoc",
            redoc_js_url=assets + "redoc.standalone.js",
            redoc_favicon_url=assets + "favicon.png",
            with_google_fonts=False,
        )
    )


@cache
def _read(name: str) -> bytes:
    return files("fastapi_offline").joinpath("static", name).read_bytes()


def asset(name: str) -> Response:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, f"no documentation asset {name!r}")
    return Response(
        _read(name),
        media_type=media_type,
        headers={"cache-control": "public, max-age=86400", "x-content-type-options": "nosniff"},
    )
