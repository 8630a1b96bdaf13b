"""The audit page (``/ui``): static files from ``visionserve/ui``, served by the ingress.

The page calls the same API as every client, with the caller's key, so it can show nothing
the key could not read. It needs nothing from outside the service: the content security
policy below allows this origin only, which also keeps a hostile image name or label from
running script in the page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import Response
from starlette.exceptions import HTTPException

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
_SCRIPTS = ("colours.js", "api.js", "marks.js", "predict.js", "explain.js", "views.js", "app.js")
"""The page's scripts, in the order index.html loads them."""
_ASSETS = {
    **dict.fromkeys(_SCRIPTS, "text/javascript; charset=utf-8"),
    "app.css": "text/css; charset=utf-8",
}
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def page() -> Response:
    html = (UI_DIR / "index.html").read_bytes()
    return Response(html, media_type="text/html; charset=utf-8", headers=HEADERS)


def asset(name: str) -> Response:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, f"no page asset {name!r}")
    return Response((UI_DIR / name).read_bytes(), media_type=media_type, headers=HEADERS)
