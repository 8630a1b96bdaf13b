"""Every route of the API in one table: what it needs, how it is counted, whether it is shed.

A row is the one source of truth about its route. The routers register their handlers from
the rows (path, method, request schema), authorisation reads the scope, the metrics read
the kind, admission control reads ``shed``, and a model's task names its routes from
``tasks``. A test checks that the application's routes and the rows are the same set.

Pure: no FastAPI, no Ray, so that metrics and tests can read it anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from visionserve.config import Scope
from visionserve_client.types import (
    AuditExplainRequest,
    ClassifyRequest,
    ClassModelRequest,
    DeepDreamRequest,
    DetectRequest,
    EmbedImageRequest,
    EmbedTextRequest,
    ExplainRequest,
    FeatureMapRequest,
    InversionRequest,
    NeighboursRequest,
    RolloutRequest,
    SegmentRequest,
    TopPatchesRequest,
    ZeroShotRequest,
)

Kind = Literal["predict", "explain", "understand", "other"]
"""The ``kind`` label of the request metrics: latency objectives differ by kind."""

Body = Literal["images", "json", "none"]
"""How the request body is documented: images (multipart, JSON with base64, or one raw
image), a JSON document of the request schema, or no body."""

SEGMENTATION = ("semantic_segmentation", "instance_segmentation")
EXPLAINABLE = ("classification", "semantic_segmentation", "clip", "detection", "instance_segmentation")


@dataclass(frozen=True)
class Route:
    method: Literal["GET", "POST", "DELETE"]
    path: str
    """The template, as the application declares it (``{name}`` for a parameter)."""
    scope: Scope | None
    """The API key scope it needs; None: open to everyone (health, the audit page's files)."""
    kind: Kind = "other"
    shed: bool = False
    """Refused at the door while the work it queues is refused for load (ingress.admission)."""
    tasks: tuple[str, ...] = ()
    """The model tasks it serves; empty for routes that are not about one model's task."""
    request: type[BaseModel] | None = None
    body: Body = "none"
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(self.path))
        object.__setattr__(self, "pattern", re.compile(regex))


def _predict(path: str, tasks: tuple[str, ...], request: type[BaseModel], body: Body = "images") -> Route:
    return Route("POST", path, "predict", "predict", True, tasks, request, body)


def _view(method: Literal["GET", "POST", "DELETE"], path: str, request: type[BaseModel] | None = None,
          body: Body = "none", shed: bool = True) -> Route:  # fmt: skip
    return Route(method, path, "explain", "understand", shed, (), request, body)


CLASSIFY = _predict("/v1/classify", ("classification",), ClassifyRequest)
DETECT = _predict("/v1/detect", ("detection",), DetectRequest)
SEGMENT = _predict("/v1/segment", SEGMENTATION, SegmentRequest)
EMBED_IMAGE = _predict("/v1/embed/image", ("clip",), EmbedImageRequest)
EMBED_TEXT = _predict("/v1/embed/text", ("clip",), EmbedTextRequest, "json")
ZERO_SHOT = _predict("/v1/zero-shot", ("clip",), ZeroShotRequest)

EXPLAIN = Route("POST", "/v1/explain", "explain", "explain", True, EXPLAINABLE, ExplainRequest, "images")
EXPLAIN_STREAM = Route(
    "POST", "/v1/explain/stream", "explain", "explain", True, EXPLAINABLE, ExplainRequest, "images"
)

AUDIT_PREDICTIONS = Route("GET", "/v1/audit/predictions", "audit")
AUDIT_PREDICTION = Route("GET", "/v1/audit/predictions/{record_id}", "audit")
AUDIT_EXPLAIN = Route(
    "POST", "/v1/audit/predictions/{record_id}/explain", "audit", "explain", True,
    EXPLAINABLE, AuditExplainRequest, "json",
)  # fmt: skip
AUDIT_STATUS = Route("GET", "/v1/audit/status", "audit")

FILTERS = _view("GET", "/v1/understand/filters", shed=False)
CREATE_REFERENCE_SET = _view("POST", "/v1/understand/reference-sets")
REFERENCE_SETS = _view("GET", "/v1/understand/reference-sets", shed=False)
REFERENCE_SET = _view("GET", "/v1/understand/reference-sets/{set_id}", shed=False)
DELETE_REFERENCE_SET = _view("DELETE", "/v1/understand/reference-sets/{set_id}", shed=False)
NEIGHBOURS = _view("POST", "/v1/understand/neighbours", NeighboursRequest, "images")
FEATURE_MAP = _view("POST", "/v1/understand/map", FeatureMapRequest, "json")
TOP_PATCHES = _view("POST", "/v1/understand/top-patches", TopPatchesRequest, "json")
CLASS_MODEL = _view("POST", "/v1/understand/class-model", ClassModelRequest, "json")
CLASS_MODEL_STREAM = _view("POST", "/v1/understand/class-model/stream", ClassModelRequest, "json")
INVERSION = _view("POST", "/v1/understand/inversion", InversionRequest, "images")
INVERSION_STREAM = _view("POST", "/v1/understand/inversion/stream", InversionRequest, "images")
DEEPDREAM = _view("POST", "/v1/understand/deepdream", DeepDreamRequest, "images")
DEEPDREAM_STREAM = _view("POST", "/v1/understand/deepdream/stream", DeepDreamRequest, "images")
ATTENTION_ROLLOUT = _view("POST", "/v1/understand/attention-rollout", RolloutRequest, "images")

MODELS = Route("GET", "/v1/models", "read")
MODEL = Route("GET", "/v1/models/{name}", "read")
MODEL_LABELS = Route("GET", "/v1/models/{name}/labels", "read")
HEALTHZ = Route("GET", "/healthz", None)
READYZ = Route("GET", "/readyz", None)
UI_PAGE = Route("GET", "/ui", None)
UI_ASSET = Route("GET", "/ui/{asset}", None)

# The Open Inference Protocol (KServe v2, with Triton's extensions its clients call at start).
V2_TASKS = ("classification", "detection", *SEGMENTATION)
V2_LIVE = Route("GET", "/v2/health/live", None)
V2_READY = Route("GET", "/v2/health/ready", None)
V2_SERVER = Route("GET", "/v2", "read")
V2_REPOSITORY_INDEX = Route("POST", "/v2/repository/index", "read")
V2_MODEL = Route("GET", "/v2/models/{name}", "read")
V2_MODEL_READY = Route("GET", "/v2/models/{name}/ready", "read")
V2_MODEL_CONFIG = Route("GET", "/v2/models/{name}/config", "read")
V2_INFER = Route("POST", "/v2/models/{name}/infer", "predict", "predict", True, V2_TASKS)
V2_VERSION = Route("GET", "/v2/models/{name}/versions/{version}", "read")
V2_VERSION_READY = Route("GET", "/v2/models/{name}/versions/{version}/ready", "read")
V2_VERSION_CONFIG = Route("GET", "/v2/models/{name}/versions/{version}/config", "read")
V2_VERSION_INFER = Route(
    "POST", "/v2/models/{name}/versions/{version}/infer", "predict", "predict", True, V2_TASKS
)

# The API's description is no more open than the model list; the pages' script and style
# files (Swagger UI, ReDoc: public libraries, installed with the package) are open.
OPENAPI = Route("GET", "/openapi.json", "read")
"""FastAPI's own route, outside the API routes' dependencies: ingress.measure checks its key."""
DOCS_PAGE = Route("GET", "/docs", "read")
DOCS_OAUTH2_REDIRECT = Route("GET", "/docs/oauth2-redirect", "read")
REDOC_PAGE = Route("GET", "/redoc", "read")
DOCS_ASSET = Route("GET", "/docs/assets/{asset}", None)

ROUTES: tuple[Route, ...] = (
    CLASSIFY, DETECT, SEGMENT, EMBED_IMAGE, EMBED_TEXT, ZERO_SHOT,
    EXPLAIN, EXPLAIN_STREAM,
    AUDIT_PREDICTIONS, AUDIT_PREDICTION, AUDIT_EXPLAIN, AUDIT_STATUS,
    FILTERS, CREATE_REFERENCE_SET, REFERENCE_SETS, REFERENCE_SET, DELETE_REFERENCE_SET,
    NEIGHBOURS, FEATURE_MAP, TOP_PATCHES, CLASS_MODEL, CLASS_MODEL_STREAM, INVERSION,
    INVERSION_STREAM, DEEPDREAM, DEEPDREAM_STREAM, ATTENTION_ROLLOUT,
    MODELS, MODEL, MODEL_LABELS, HEALTHZ, READYZ, UI_PAGE, UI_ASSET,
    V2_LIVE, V2_READY, V2_SERVER, V2_REPOSITORY_INDEX, V2_MODEL, V2_MODEL_READY, V2_MODEL_CONFIG,
    V2_INFER, V2_VERSION, V2_VERSION_READY, V2_VERSION_CONFIG, V2_VERSION_INFER,
    OPENAPI, DOCS_PAGE, DOCS_OAUTH2_REDIRECT, REDOC_PAGE, DOCS_ASSET,
)  # fmt: skip

GRPC_SERVICE = "/visionserve.v1.VisionServe/"
OIP_GRPC_SERVICE = "/inference.GRPCInferenceService/"
HEALTH_GRPC_SERVICE = "/grpc.health.v1.Health/"
_PREDICT_RPCS = ("Classify", "Detect", "Segment", "EmbedImage", "EmbedText", "ZeroShot")
_OIP_TWINS = {
    "ServerLive": V2_LIVE, "ServerReady": V2_READY, "ModelReady": V2_MODEL_READY, "ServerMetadata": V2_SERVER,
    "ModelMetadata": V2_MODEL, "ModelConfig": V2_MODEL_CONFIG, "RepositoryIndex": V2_REPOSITORY_INDEX,
    "ModelInfer": V2_INFER,
}  # fmt: skip
RPCS: dict[str, tuple[Scope | None, Kind]] = {
    **{GRPC_SERVICE + rpc: ("predict", "predict") for rpc in _PREDICT_RPCS},
    GRPC_SERVICE + "Explain": ("explain", "explain"),
    GRPC_SERVICE + "ListModels": ("read", "other"),
    # The Open Inference Protocol (protos/visionserve/oip/v2), as its /v2 twins.
    **{OIP_GRPC_SERVICE + rpc: (twin.scope, twin.kind) for rpc, twin in _OIP_TWINS.items()},
    # Health checking (grpc.health.v1), open as /readyz: probes carry no keys.
    **{HEALTH_GRPC_SERVICE + rpc: (READYZ.scope, "other") for rpc in ("Check", "List", "Watch")},
}
"""Every gRPC method served, by its full name, with the scope and kind of its HTTP twin.
Serve calls the ingress's method named after the RPC alone: names are unique across services."""

_BY_PATH = {route.path: route for route in ROUTES}
_KIND = {**{r.path: r.kind for r in ROUTES}, **{method: kind for method, (_, kind) in RPCS.items()}}
_SHED_EXACT = {r.path: r for r in ROUTES if r.shed and "{" not in r.path}
_SHED_TEMPLATED = [r for r in ROUTES if r.shed and "{" in r.path]


def scope_for_route(path: str) -> Scope | None:
    """The scope a route template needs; a template without a row needs ``read``, never less."""
    route = _BY_PATH.get(path)
    return route.scope if route is not None else "read"


def scope_for_rpc(method: str) -> Scope | None:
    """The scope a gRPC method (``/package.Service/Method``) needs; one without a row needs
    ``predict``."""
    found = RPCS.get(method)
    return found[0] if found is not None else "predict"


def endpoint_kind(endpoint: str) -> Kind:
    """The kind of a route template or gRPC method; ``other`` for anything else (unmatched)."""
    return _KIND.get(endpoint, "other")


def shed_route(method: str, path: str) -> Route | None:
    """The row of a request path whose work is shed under load; None for every other path."""
    route = _SHED_EXACT.get(path)
    if route is None:
        route = next((r for r in _SHED_TEMPLATED if r.pattern.fullmatch(path)), None)
    return route if route is not None and route.method == method else None


def routes_for_task(task: str) -> list[Route]:
    """The prediction routes that serve a task (for "use POST ..." in errors)."""
    return [r for r in ROUTES if r.kind == "predict" and task in r.tasks and r.path.startswith("/v1/")]
