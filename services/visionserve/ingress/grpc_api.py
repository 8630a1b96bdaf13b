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

from visionserve.errors import EmptyRequest, ServiceError, TooManyImages
from visionserve.imaging import probe
from visionserve.ingress.requests import validate_fields
from visionserve.v1 import visionserve_pb2 as pb
from visionserve_client.types import ClassifyRequest, DetectRequest, ModelInfo

if TYPE_CHECKING:
    from ray.serve.grpc_util import RayServegRPCContext

    from visionserve.config import ModelConfig, PipelineConfig, ServiceConfig

_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


class GrpcMethods:
    """Mixed into the ingress deployment, whose ``_config``, ``_model_for``, ``_call`` and
    ``_info`` these use."""

    _config: ServiceConfig
    _model_for: Callable[..., ModelConfig | PipelineConfig]
    _call: Callable[..., Awaitable[dict[str, Any]]]
    _info: Callable[..., Awaitable[ModelInfo]]

    async def _grpc_predict(
        self, message: Any, schema: type[Any], tasks: tuple[str, ...], context: RayServegRPCContext
    ) -> dict[str, Any]:
        request_id = uuid.uuid4().hex
        try:
            limits = self._config.limits
            images = list(message.images)
            if not images:
                raise EmptyRequest("the request holds no image")
            if len(images) > limits.max_images_per_request:
                raise TooManyImages(
                    f"{len(images)} images in one request, over the limit of {limits.max_images_per_request}"
                )
            for index, data in enumerate(images):
                try:
                    probe(data, max_pixels=limits.max_image_pixels)
                except ServiceError as exc:
                    raise type(exc)(f"image {index}: {exc.message}") from None
            fields = {f.name: v for f, v in message.ListFields() if f.name != "images"}
            parsed = validate_fields(schema, {**fields, "images": []})
            params = parsed.model_dump(exclude={"images", "model"}, exclude_none=True)
            model = self._model_for(parsed.model, tasks)
            body = await self._call(request_id, model, "predict", images, params)
        except ServiceError as exc:
            context.set_code(_STATUS.get(exc.status, grpc.StatusCode.INTERNAL))
            context.set_details(f"{exc.code}: {exc.message} (request_id={request_id})")
            raise
        body["results"] = [r.model_dump(mode="json") for r in body["results"]]
        return body

    async def Classify(
        self, request: pb.ClassifyRequest, grpc_context: RayServegRPCContext
    ) -> pb.ClassifyResponse:
        body = await self._grpc_predict(request, ClassifyRequest, ("classification",), grpc_context)
        return ParseDict(body, pb.ClassifyResponse(), ignore_unknown_fields=True)

    async def Detect(self, request: pb.DetectRequest, grpc_context: RayServegRPCContext) -> pb.DetectResponse:
        body = await self._grpc_predict(request, DetectRequest, ("detection",), grpc_context)
        return ParseDict(body, pb.DetectResponse(), ignore_unknown_fields=True)

    async def ListModels(
        self, request: pb.ListModelsRequest, grpc_context: RayServegRPCContext
    ) -> pb.ModelList:
        infos = await asyncio.gather(*(self._info(e) for e in self._config.entries))
        return pb.ModelList(
            models=[
                pb.ModelInfo(name=i.name, task=i.task, ready=i.ready, model_version=i.model_version or "")
                for i in infos
            ]
        )
