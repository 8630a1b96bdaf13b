"""The HTTP API v1: a FastAPI app served by the ingress deployment.

The ingress validates requests and keeps images compressed; model replicas decode, batch and
run them. Every response carries ``request_id``, the same as Serve's ``x-request-id``. The
routes are the rows of ``ingress.routes``, handled by the routers in ``ingress.routers``;
this module assembles them, with the middlewares and error handlers, and holds the replica
state they share.

No ``from __future__ import annotations`` here: FastAPI must resolve the route signatures at
run time, after Serve has rewritten the class.
"""

import logging
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.exceptions import HTTPException as StarletteHTTPException

from visionserve import __version__
from visionserve.audit import open_writer
from visionserve.config import ServiceConfig
from visionserve.ingress import uploads
from visionserve.ingress.admission import AdmissionControl, ShedWhenFull
from visionserve.ingress.auth import Authenticator, presented_key, scope_for_route
from visionserve.ingress.catalog import Catalog
from visionserve.ingress.colocated import InProcessHandle, colocated_models
from visionserve.ingress.errors import EXPECTED_ERRORS, error_response, to_response
from visionserve.ingress.gateway import Gateway
from visionserve.ingress.grpc_api import GrpcMethods
from visionserve.ingress.grpc_health import HealthGrpcMethods
from visionserve.ingress.grpc_oip import OipGrpcMethods
from visionserve.ingress.measure import MeasureRequests, authenticator
from visionserve.ingress.replica import Replica, publish
from visionserve.ingress.routers import audit, explain, models, oip, pages, predict, understand
from visionserve.ingress.routers.common import Services, install, request_id
from visionserve.metrics import IngressMetrics

logger = logging.getLogger("visionserve")


async def authorise(request: Request) -> None:
    """Every API route's dependency: the key must allow the route's scope (ingress.routes)."""
    auth = authenticator()
    if auth is not None:
        route = request.scope.get("route")
        scope = scope_for_route(str(getattr(route, "path", "")))
        request.state.caller = auth.check(presented_key(request.headers), scope)


app = FastAPI(
    title="VisionServe",
    version=__version__,
    description="Computer-vision models on Ray Serve: classify, detect, segment and embed images.",
    dependencies=[Depends(authorise)],
    docs_url=None,  # served from local files by routers.pages (ingress.docs)
    redoc_url=None,
)
for _concern in (predict, explain, audit, understand, models, pages, oip):
    install(app, _concern.router)

app.add_middleware(MeasureRequests)
# Added last, so outermost: a full endpoint is refused before auth, parsing or measuring.
app.add_middleware(ShedWhenFull)


async def _error_response(request: Request, exc: Exception) -> JSONResponse:
    return to_response(exc, request_id(request), request.scope)


# Expected errors get their own handlers: Starlette re-raises whatever reaches the catch-all
# Exception handler after answering, and Serve then logs it as a failed request.
for _expected in (*EXPECTED_ERRORS, StarletteHTTPException, RequestValidationError, Exception):
    app.add_exception_handler(_expected, _error_response)


def _served_app() -> FastAPI:
    """The application a replica serves: this module's own, imported in the replica. Given the
    application itself, Serve would pickle a copy when the class is decorated, and the copy's
    parameters lose FastAPI's "unset" markers (OpenAPI then shows ``"example": {}``)."""
    return app


@serve.deployment
@serve.ingress(_served_app)
class Ingress(GrpcMethods, OipGrpcMethods, HealthGrpcMethods):
    def __init__(
        self,
        config: dict[str, Any],
        handles: dict[str, DeploymentHandle[Any]],
        explainer: DeploymentHandle[Any] | None,
        model_dirs: list[str],
        cache_dir: str,
    ) -> None:
        cfg = ServiceConfig.model_validate(config)
        self._metrics = IngressMetrics(cfg.metrics)
        self._auth = Authenticator(cfg.auth)
        uploads.configure(cfg.limits, self._metrics)  # bodies are read before routing
        self._audit = open_writer(cfg.audit, self._metrics.audited)
        admission = AdmissionControl(cfg.ingress.max_ongoing_requests)
        colocated = colocated_models(cfg.models, cfg.limits, model_dirs, cache_dir, cfg.metrics)
        self._handles: dict[str, Any] = {**handles, **colocated}
        gateway = Gateway(self._handles, explainer, cfg.limits, admission, self._audit)
        self._services = Services(cfg, Catalog(cfg, explainer is not None), gateway, self._audit)
        publish(Replica(self._metrics, self._auth, admission, self._services))

    def colocated_batch_stats(self, model: str) -> dict[str, int]:
        """Batches run and images in them by a model placed in this replica (for benchmarks)."""
        handle = self._handles[model]
        if not isinstance(handle, InProcessHandle):
            raise ValueError(f"model {model} runs in its own deployment: ask its replicas")
        stats: dict[str, int] = handle.replica.batch_stats()
        return stats

    def __del__(self) -> None:
        # Serve calls this on a graceful stop: what the audit buffer holds is written first.
        audit = getattr(self, "_audit", None)
        if audit is not None:
            audit.close()


__all__ = ["Ingress", "app", "error_response"]
