"""The gRPC surface (protos/visionserve/v1): the same calls as /v1, through Serve's gRPC ingress.

Serve calls the ingress method named after each RPC with the protobuf request. Requests are
checked by the same pydantic schemas and limits as HTTP; a ServiceError becomes the gRPC
status of its HTTP status, with "code: message (request_id)" as details.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from google.protobuf.json_format import ParseDict
from pydantic import BaseModel

from visionserve.ingress import routes
from visionserve.ingress.gateway import Caller
from visionserve.ingress.grpc_base import RpcRunner, parsed
from visionserve.ingress.requests import ParsedRequest, check_images, validate_fields
from visionserve.ingress.routers.common import cited
from visionserve.ingress.routers.explain import explain_parsed
from visionserve.ingress.routers.models import describe_all
from visionserve.ingress.routers.predict import embed_texts, predict_parsed
from visionserve.ingress.routes import GRPC_SERVICE, Route
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


class GrpcMethods(RpcRunner):
    """VisionServe's own service (protos/visionserve/v1)."""

    def _parse(self, message: Any, schema: type[BaseModel]) -> ParsedRequest:
        """The images and parameters of a request message, checked as HTTP checks them."""
        parsed(message)
        images = list(message.images)
        check_images(images, self._services.config.limits)
        fields = validate_fields(schema, {**_fields(message, exclude="images"), "images": []})
        params = fields.model_dump(exclude={"images", "model"}, exclude_none=True)
        return ParsedRequest(images=images, params=params, model=getattr(fields, "model", None))

    async def _answer(self, context: RayServegRPCContext, reply: type[Any], work: Work) -> Any:
        rpc = reply.__name__.removesuffix("Response")
        response = await self._run(context, GRPC_SERVICE + rpc, work)
        document = response.model_dump(mode="json", exclude_none=True)
        if reply is pb.SegmentResponse:  # the oneof is named after the kind
            document["results"] = [{r["kind"]: r} for r in document["results"]]
        return ParseDict(document, reply(), ignore_unknown_fields=True)

    def _images_call(self, message: Any, row: Route, schema: type[BaseModel], **extra: Any) -> Work:
        async def work(who: Caller) -> BaseModel:
            assert row.request is not None
            asked = self._parse(message, row.request)
            entry, output = await predict_parsed(self._services, who, asked, row, **extra)
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
            body = validate_fields(EmbedTextRequest, _fields(parsed(request)))
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
        async def work(who: Caller) -> Any:
            parsed(request)
            infos = await describe_all(self._services)
            return pb.ModelList(
                models=[
                    pb.ModelInfo(name=i.name, task=i.task, ready=i.ready, model_version=i.model_version or "")
                    for i in infos
                ]
            )

        return await self._run(grpc_context, GRPC_SERVICE + "ListModels", work)


def _fields(message: Any, exclude: str = "") -> dict[str, Any]:
    """The fields a message sets (repeated fields as lists), for the pydantic schemas."""
    scalar = (str, bytes, int, float, bool)
    fields = message.ListFields()
    return {f.name: v if isinstance(v, scalar) else list(v) for f, v in fields if f.name != exclude}
