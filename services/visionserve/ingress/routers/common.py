"""What every router shares: the services a handler reaches, registration from a route's row,
and typed answers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel

from visionserve.audit.writer import AuditWriter
from visionserve.config import ServiceConfig
from visionserve.errors import Unprocessable
from visionserve.ingress.catalog import Catalog, Entry
from visionserve.ingress.gateway import Caller, Gateway
from visionserve.ingress.replica import current
from visionserve.ingress.routes import Route
from visionserve.outputs import PredictOutput

Handler = TypeVar("Handler", bound=Callable[..., Any])
ResponseT = TypeVar("ResponseT", bound=BaseModel)


@dataclass
class Services:
    """What the ingress replica holds for its handlers; ``app.state.services``."""

    config: ServiceConfig
    catalog: Catalog
    gateway: Gateway
    audit: AuditWriter | None

    def auditor(self) -> AuditWriter:
        if self.audit is None:
            raise Unprocessable("the audit trail is off (audit.enabled)")
        return self.audit


def services(request: Request) -> Services:
    replica = current()
    if replica is None:
        raise RuntimeError("no ingress replica has published its services in this process")
    return replica.services


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "")) or uuid.uuid4().hex


def caller(request: Request) -> Caller:
    route = request.scope.get("route")
    return Caller(
        request_id=request_id(request),
        endpoint=str(getattr(route, "path", request.url.path)),
        key_name=getattr(request.state, "caller", None),
        admission_key=getattr(request.state, "admission_key", None),
    )


def typed(response: BaseModel, status_code: int = 200) -> Response:
    """A response model as JSON, the bytes FastAPI would send for it (pydantic's own JSON,
    aliases applied), without FastAPI validating the checked model once more."""
    body = response.model_dump_json(by_alias=True)
    return Response(body, status_code=status_code, media_type="application/json")


def cited(schema: type[ResponseT], request_id: str, entry: Entry, output: PredictOutput) -> ResponseT:
    """A replica's answer as its response: its typed results and fields, cited by request and
    model version."""
    return schema.model_validate(
        {
            "request_id": request_id,
            "model": entry.name,
            "model_version": output.model_version,
            "results": output.results,
            **output.fields,
        }
    )


def viewed(schema: type[ResponseT], request_id: str, entry: Entry, output: PredictOutput) -> ResponseT:
    """An understanding view's answer: its fields, cited by request and model version."""
    fields = {"request_id": request_id, "model": entry.name, "model_version": output.model_version}
    return schema.model_validate({**fields, **output.fields})


@dataclass(frozen=True)
class Handled:
    row: Route
    endpoint: Callable[..., Any]
    options: dict[str, Any]


class Router:
    """A module's handlers, each at its row. Added to the application as plain routes
    (``install``): FastAPI's included routers resolve their routes lazily, which Serve's
    class-based ingress and the route checks here do not see."""

    def __init__(self) -> None:
        self.handled: list[Handled] = []

    def route(self, row: Route, **options: Any) -> Callable[[Handler], Handler]:
        """Handle ROW; its request body documented as the row says."""
        if row.request is not None and row.body != "none":
            options.setdefault("openapi_extra", body_doc(row.request, row.body == "images"))

        def register(endpoint: Handler) -> Handler:
            self.handled.append(Handled(row, endpoint, options))
            return endpoint

        return register


def install(app: FastAPI, router: Router) -> None:
    for handled in router.handled:
        app.add_api_route(handled.row.path, handled.endpoint, methods=[handled.row.method], **handled.options)


def body_doc(schema: type[BaseModel], images: bool) -> dict[str, Any]:
    """OpenAPI description of a request body: images (multipart, JSON with base64, or one raw
    image) or a JSON document."""
    json_doc = {"application/json": {"schema": schema.model_json_schema()}}
    if not images:
        return {"requestBody": {"required": True, "content": json_doc}}
    properties = {k: v for k, v in schema.model_json_schema()["properties"].items() if k != "images"}
    multipart = {
        "type": "object",
        "properties": {
            "images": {"type": "array", "items": {"type": "string", "format": "binary"}},
            **properties,
        },
        "required": ["images"],
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": multipart},
                **json_doc,
                "image/*": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
