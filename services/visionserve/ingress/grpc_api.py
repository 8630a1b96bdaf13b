"""The gRPC surface (protos/visionserve/v1): the same calls as /v1, through Serve's gRPC ingress.

Serve calls the ingress method named after each RPC with the protobuf request. Requests are
checked by the same pydantic schemas and limits as HTTP; a ServiceError becomes the gRPC
status of its HTTP status, with "code: message (request_id)" as details.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.json_format import ParseDict
from pydantic import BaseModel
from ray.serve.context import _get_serve_request_context

from visionserve.errors import BadRequest, grpc_status
from visionserve.ingress import routes
from visionserve.ingress.auth import Authenticator, presented_key
from visionserve.ingress.errors import describe_error
from visionserve.ingress.gateway import Caller
from visionserve.ingress.grpc_servicer import Malformed
from visionserve.ingress.requests import ParsedRequest, check_images, validate_fields
from visionserve.ingress.routers.common import Services, cited
from visionserve.ingress.routers.explain import explain_parsed
from visionserve.ingress.routers.models import describe_all
from visionserve.ingress.routers.predict import embed_texts, predict_parsed
from visionserve.ingress.routes import GRPC_SERVICE, Route, scope_for_rpc
from visionserve.metrics import IngressMetrics, note_error
from visionserve.v1 import visionserve_pb2 as pb
from visionserve_client.types import (
    ClassifyResponse,
    DetectResponse,
    EmbedImageResponse,
    EmbedTextRequest,
    EmbedTextResponse,
    SegmentResponse,
    ZeroShotResponse,
)

if TYPE_CHECKING:
    from ray.serve.grpc_util import RayServegRPCContext

Work = Callable[[Caller], Awaitable[BaseModel]]


class GrpcMethods:
    """Mixed into the ingress deployment: the RPCs share its services with the HTTP routes."""

    _services: Services
    _metrics: IngressMetrics
    _auth: Authenticator

    def _parse(self, message: Any, schema: type[BaseModel]) -> ParsedRequest:
        """The images and parameters of a request message, checked as HTTP checks them."""
        _parsed(message)
        images = list(message.images)
        check_images(images, self._services.config.limits)
        parsed = validate_fields(schema, {**_fields(message, exclude="images"), "images": []})
        params = parsed.model_dump(exclude={"images", "model"}, exclude_none=True)
        return ParsedRequest(images=images, params=params, model=getattr(parsed, "model", None))

    async def _answer(self, context: RayServegRPCContext, reply: type[Any], work: Work) -> Any:
        rpc = reply.__name__.removesuffix("Response")
        who = Caller(request_id=_request_id(), endpoint="grpc")
        with self._metrics.request("grpc", GRPC_SERVICE + rpc) as record:
            try:
                self._authorise(context, rpc)
                response = await work(who)
            except Exception as exc:
                status, code, message = describe_error(exc)
                record.status = status
                note_error(code)
                context.set_code(getattr(grpc.StatusCode, grpc_status(status)))
                context.set_details(f"{code}: {message} (request_id={who.request_id})")
                raise
            record.status = 200
        document = response.model_dump(mode="json", exclude_none=True)
        if reply is pb.SegmentResponse:  # the oneof is named after the kind
            document["results"] = [{r["kind"]: r} for r in document["results"]]
        return ParseDict(document, reply(), ignore_unknown_fields=True)

    def _authorise(self, context: RayServegRPCContext, rpc: str) -> None:
        metadata = {key.lower(): value for key, value in context.invocation_metadata()}
        self._auth.check(presented_key(metadata), scope_for_rpc(rpc))

    def _images_call(self, message: Any, row: Route, schema: type[BaseModel], **extra: Any) -> Work:
        async def work(who: Caller) -> BaseModel:
            assert row.request is not None
            parsed = self._parse(message, row.request)
            entry, output = await predict_parsed(self._services, who, parsed, row, **extra)
            return cited(schema, who.request_id, entry, output)

        return work

    async def Classify(self, request: pb.ClassifyRequest, grpc_context: RayServegRPCContext) -> Any:
        work = self._images_call(request, routes.CLASSIFY, ClassifyResponse)
        return await self._answer(grpc_context, pb.ClassifyResponse, work)

    async def Detect(self, request: pb.DetectRequest, grpc_context: RayServegRPCContext) -> Any:
        work = self._images_call(request, routes.DETECT, DetectResponse)
        return await self._answer(grpc_context, pb.DetectResponse, work)

    async def Segment(self, request: pb.SegmentRequest, grpc_context: RayServegRPCContext) -> Any:
        work = self._images_call(request, routes.SEGMENT, SegmentResponse)
        return await self._answer(grpc_context, pb.SegmentResponse, work)

    async def EmbedImage(self, request: pb.EmbedImageRequest, grpc_context: RayServegRPCContext) -> Any:
        work = self._images_call(request, routes.EMBED_IMAGE, EmbedImageResponse, mode="embed")
        return await self._answer(grpc_context, pb.EmbedImageResponse, work)

    async def ZeroShot(self, request: pb.ZeroShotRequest, grpc_context: RayServegRPCContext) -> Any:
        work = self._images_call(request, routes.ZERO_SHOT, ZeroShotResponse, mode="zero_shot")
        return await self._answer(grpc_context, pb.ZeroShotResponse, work)

    async def EmbedText(self, request: pb.EmbedTextRequest, grpc_context: RayServegRPCContext) -> Any:
        async def work(who: Caller) -> BaseModel:
            body = validate_fields(EmbedTextRequest, _fields(_parsed(request)))
            assert isinstance(body, EmbedTextRequest)
            entry, output = await embed_texts(self._services, who, body)
            return cited(EmbedTextResponse, who.request_id, entry, output)

        return await self._answer(grpc_context, pb.EmbedTextResponse, work)

    async def Explain(self, request: pb.ExplainRequest, grpc_context: RayServegRPCContext) -> Any:
        async def work(who: Caller) -> BaseModel:
            assert routes.EXPLAIN.request is not None
            return await explain_parsed(self._services, who, self._parse(request, routes.EXPLAIN.request))

        return await self._answer(grpc_context, pb.ExplainResponse, work)

    async def ListModels(self, request: pb.ListModelsRequest, grpc_context: RayServegRPCContext) -> Any:
        try:
            self._authorise(grpc_context, "ListModels")
        except Exception as exc:
            status, code, message = describe_error(exc)
            grpc_context.set_code(getattr(grpc.StatusCode, grpc_status(status)))
            grpc_context.set_details(f"{code}: {message}")
            raise
        infos = await describe_all(self._services)
        return pb.ModelList(
            models=[
                pb.ModelInfo(name=i.name, task=i.task, ready=i.ready, model_version=i.model_version or "")
                for i in infos
            ]
        )


def _parsed(message: Any) -> Any:
    """The request message; BadRequest for bytes that did not parse as one."""
    if isinstance(message, Malformed):
        raise BadRequest(f"the request is not a valid protobuf message of its type: {message.reason}")
    return message


def _request_id() -> str:
    """The id Serve returns in the call's trailing metadata (the caller's ``request_id``
    metadata, or one Serve made), so that the response, its trailer, the logs and the audit
    record name the call alike."""
    return _get_serve_request_context().request_id or uuid.uuid4().hex


def _fields(message: Any, exclude: str = "") -> dict[str, Any]:
    """The fields a message sets (repeated fields as lists), for the pydantic schemas."""
    scalar = (str, bytes, int, float, bool)
    fields = message.ListFields()
    return {f.name: v if isinstance(v, scalar) else list(v) for f, v in fields if f.name != exclude}
