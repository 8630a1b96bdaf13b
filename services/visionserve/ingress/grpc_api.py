"""The gRPC surface (protos/visionserve/v1): the same calls as /v1, through Serve's gRPC ingress.

Serve calls the ingress method named after each RPC with the protobuf request. Requests are
checked by the same pydantic schemas and limits as HTTP; a ServiceError becomes the gRPC
status of its HTTP status, with "code: message (request_id)" as details.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.json_format import ParseDict
from ray.serve.context import _get_serve_request_context

from visionserve.errors import BadRequest, ServiceError
from visionserve.ingress.auth import Authenticator, presented_key, scope_for_rpc
from visionserve.ingress.errors import describe_error
from visionserve.ingress.grpc_servicer import Malformed
from visionserve.ingress.requests import ParsedRequest, check_images, validate_fields
from visionserve.metrics import IngressMetrics, note_error
from visionserve.v1 import visionserve_pb2 as pb
from visionserve_client.types import (
    ClassifyRequest,
    DetectRequest,
    EmbedImageRequest,
    EmbedTextRequest,
    ExplainRequest,
    ModelInfo,
    SegmentRequest,
    ZeroShotRequest,
)

if TYPE_CHECKING:
    from ray.serve.grpc_util import RayServegRPCContext

    from visionserve.config import ServiceConfig

_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


class GrpcMethods:
    """Mixed into the ingress deployment, whose config, model lookup and calls these share with
    the HTTP routes (``_predict_parsed``, ``_embed_texts``, ``_explain_parsed``, ``_info``)."""

    _config: ServiceConfig
    _metrics: IngressMetrics
    _auth: Authenticator
    _predict_parsed: Callable[..., Awaitable[dict[str, Any]]]
    _embed_texts: Callable[..., Awaitable[dict[str, Any]]]
    _explain_parsed: Callable[..., Awaitable[dict[str, Any]]]
    _info: Callable[..., Awaitable[ModelInfo]]

    def _parse(self, message: Any, schema: type[Any]) -> ParsedRequest:
        """The images and parameters of a request message, checked as HTTP checks them."""
        _parsed(message)
        images = list(message.images)
        check_images(images, self._config.limits)
        parsed = validate_fields(schema, {**_fields(message, exclude="images"), "images": []})
        params = parsed.model_dump(exclude={"images", "model"}, exclude_none=True)
        return ParsedRequest(images=images, params=params, model=getattr(parsed, "model", None))

    async def _answer(
        self, context: RayServegRPCContext, reply: type[Any], work: Callable[[str], Awaitable[dict[str, Any]]]
    ) -> Any:
        request_id = _request_id()
        rpc = reply.__name__.removesuffix("Response")
        with self._metrics.request("grpc", f"/visionserve.v1.VisionServe/{rpc}") as record:
            try:
                self._authorise(context, rpc)
                body = await work(request_id)
            except Exception as exc:
                status, code, message = describe_error(exc)
                record.status = status
                note_error(code)
                context.set_code(_STATUS.get(status, grpc.StatusCode.INTERNAL))
                context.set_details(f"{code}: {message} (request_id={request_id})")
                raise
            record.status = 200
        results = [r.model_dump(mode="json", exclude_none=True) for r in body.pop("results")]
        if reply is pb.SegmentResponse:
            results = [{r["kind"]: r} for r in results]  # the oneof is named after the kind
        document = {k: v for k, v in body.items() if v is not None}
        return ParseDict({**document, "results": results}, reply(), ignore_unknown_fields=True)

    def _authorise(self, context: RayServegRPCContext, rpc: str) -> None:
        metadata = {key.lower(): value for key, value in context.invocation_metadata()}
        self._auth.check(presented_key(metadata), scope_for_rpc(rpc))

    def _images_call(
        self, message: Any, schema: type[Any], tasks: tuple[str, ...], **extra: Any
    ) -> Callable[[str], Awaitable[dict[str, Any]]]:
        async def work(request_id: str) -> dict[str, Any]:
            return await self._predict_parsed(request_id, self._parse(message, schema), tasks, **extra)

        return work

    async def Classify(self, request: pb.ClassifyRequest, grpc_context: RayServegRPCContext) -> Any:
        work = self._images_call(request, ClassifyRequest, ("classification",))
        return await self._answer(grpc_context, pb.ClassifyResponse, work)

    async def Detect(self, request: pb.DetectRequest, grpc_context: RayServegRPCContext) -> Any:
        work = self._images_call(request, DetectRequest, ("detection",))
        return await self._answer(grpc_context, pb.DetectResponse, work)

    async def Segment(self, request: pb.SegmentRequest, grpc_context: RayServegRPCContext) -> Any:
        work = self._images_call(request, SegmentRequest, ("semantic_segmentation", "instance_segmentation"))
        return await self._answer(grpc_context, pb.SegmentResponse, work)

    async def EmbedImage(self, request: pb.EmbedImageRequest, grpc_context: RayServegRPCContext) -> Any:
        work = self._images_call(request, EmbedImageRequest, ("clip",), mode="embed")
        return await self._answer(grpc_context, pb.EmbedImageResponse, work)

    async def ZeroShot(self, request: pb.ZeroShotRequest, grpc_context: RayServegRPCContext) -> Any:
        work = self._images_call(request, ZeroShotRequest, ("clip",), mode="zero_shot")
        return await self._answer(grpc_context, pb.ZeroShotResponse, work)

    async def EmbedText(self, request: pb.EmbedTextRequest, grpc_context: RayServegRPCContext) -> Any:
        async def work(request_id: str) -> dict[str, Any]:
            body = validate_fields(EmbedTextRequest, _fields(_parsed(request)))
            return await self._embed_texts(request_id, body)

        return await self._answer(grpc_context, pb.EmbedTextResponse, work)

    async def Explain(self, request: pb.ExplainRequest, grpc_context: RayServegRPCContext) -> Any:
        async def work(request_id: str) -> dict[str, Any]:
            return await self._explain_parsed(request_id, self._parse(request, ExplainRequest))

        return await self._answer(grpc_context, pb.ExplainResponse, work)

    async def ListModels(self, request: pb.ListModelsRequest, grpc_context: RayServegRPCContext) -> Any:
        try:
            self._authorise(grpc_context, "ListModels")
        except ServiceError as exc:
            grpc_context.set_code(_STATUS[exc.status])
            grpc_context.set_details(f"{exc.code}: {exc.message}")
            raise
        infos = await asyncio.gather(*(self._info(e) for e in self._config.entries))
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
