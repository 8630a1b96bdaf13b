"""The Open Inference Protocol over gRPC (``inference.GRPCInferenceService``): the protocol's
messages (protos/visionserve/oip/v2) in and out of what /v2 serves, checked by the same code
(``ingress.oip``, ``routers.oip``) with the same keys, limits, audit records and metrics."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from google.protobuf.json_format import ParseDict
from google.protobuf.message import Message

from visionserve.config import LimitsConfig, PipelineConfig
from visionserve.errors import PayloadTooLarge, TooManyImages, Unprocessable
from visionserve.ingress import oip
from visionserve.ingress.gateway import Caller
from visionserve.ingress.grpc_base import RpcRunner, parsed
from visionserve.ingress.oip_metadata import server_metadata
from visionserve.ingress.routers.oip import SCHEMAS, config, infer, metadata, repository, served, server_ready
from visionserve.ingress.routes import OIP_GRPC_SERVICE
from visionserve.oip.v2 import open_inference_pb2 as pb

if TYPE_CHECKING:
    from ray.serve.grpc_util import RayServegRPCContext


def _value(parameter: pb.InferParameter) -> Any:
    choice = parameter.WhichOneof("parameter_choice")
    return getattr(parameter, choice) if choice else None


def _parameters(parameters: Any) -> dict[str, Any]:
    return {name: _value(p) for name, p in parameters.items()}


def _contents(tensor: pb.ModelInferRequest.InferInputTensor, max_bytes: int) -> bytes:
    """A tensor's typed contents as its raw bytes (what raw_input_contents would carry), no
    more than a request body may hold."""
    if tensor.datatype == "BYTES":
        elements = tensor.contents.bytes_contents
        return b"".join(struct.pack("<I", len(e)) + e for e in elements)
    if tensor.datatype == "UINT8":
        if len(tensor.contents.uint_contents) > max_bytes:
            raise PayloadTooLarge(f"UINT8 contents over the request limit of {max_bytes} elements")
        values = np.asarray(tensor.contents.uint_contents, dtype=np.uint32)
        if values.size and int(values.max()) > 255:
            raise Unprocessable("UINT8 contents must be integers in 0..255")
        return values.astype(np.uint8).tobytes()
    return b""  # a datatype no model takes: refused by name and type first


def _document(request: pb.ModelInferRequest, limits: LimitsConfig) -> tuple[dict[str, Any], bytes]:
    """The request as the REST protocol's JSON and binary data, for ``oip.parse_document``;
    what is cheap to refuse is refused before any element is copied."""
    raw = list(request.raw_input_contents)
    if len(request.inputs) != 1:
        raise Unprocessable(f"send one input tensor of images, got {len(request.inputs)}")
    if raw and len(raw) != len(request.inputs):
        raise Unprocessable(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs")
    if raw and len(raw[0]) > limits.max_body_bytes:
        raise PayloadTooLarge(f"the input's data is over the request limit of {limits.max_body_bytes} bytes")
    elements = len(request.inputs[0].contents.bytes_contents)
    if elements > limits.max_images_per_request:
        raise TooManyImages(
            f"{elements} images in one request, over the limit of {limits.max_images_per_request}"
        )
    max_bytes = limits.max_body_bytes
    inputs, data = [], b""
    for index, tensor in enumerate(request.inputs):
        blob = raw[index] if raw else _contents(tensor, max_bytes)
        if index == 0:  # one input is served; parse_document refuses more
            data = blob
        inputs.append(
            {
                "name": tensor.name,
                "datatype": tensor.datatype,
                "shape": list(tensor.shape),
                "parameters": {**_parameters(tensor.parameters), "binary_data_size": len(blob)},
            }
        )
    document: dict[str, Any] = {
        "id": request.id or None,
        "inputs": inputs,
        "parameters": _parameters(request.parameters),
    }
    if request.outputs:
        document["outputs"] = [
            {"name": o.name, "parameters": _parameters(o.parameters)} for o in request.outputs
        ]
    return document, data


def _response(asked: oip.InferRequest, model: str, version: str, request_id: str, task: str,
              results: list[Any]) -> pb.ModelInferResponse:  # fmt: skip
    """Every output asked for (all by default) in raw_output_contents, as Triton answers."""
    tensors = oip.output_tensors(task, results)
    answer = pb.ModelInferResponse(model_name=model, model_version=version, id=asked.id or request_id)
    answer.parameters["request_id"].string_param = request_id
    for name in asked.requested or tensors:
        datatype, shape, values = tensors[name]
        answer.outputs.add(name=name, datatype=datatype, shape=shape)
        answer.raw_output_contents.append(oip.tensor_bytes(datatype, values))
    return answer


MessageT = TypeVar("MessageT", bound=Message)


def _message(document: dict[str, Any], message: MessageT) -> MessageT:
    """The JSON document /v2 answers, as the gRPC message of the same fields."""
    ParseDict(document, message)
    return message


def _version(asked: str) -> str | None:
    return asked or None  # empty: the version served


class OipGrpcMethods(RpcRunner):
    """Mixed into the ingress deployment: one method per RPC of the protocol's service."""

    async def ServerLive(self, request: pb.ServerLiveRequest, grpc_context: RayServegRPCContext) -> Any:
        async def work(_: Caller) -> pb.ServerLiveResponse:
            parsed(request)
            return pb.ServerLiveResponse(live=True)

        return await self._run(grpc_context, OIP_GRPC_SERVICE + "ServerLive", work)

    async def ServerReady(self, request: pb.ServerReadyRequest, grpc_context: RayServegRPCContext) -> Any:
        async def work(_: Caller) -> pb.ServerReadyResponse:
            parsed(request)
            return pb.ServerReadyResponse(ready=await server_ready(self._services))

        return await self._run(grpc_context, OIP_GRPC_SERVICE + "ServerReady", work)

    async def ModelReady(self, request: pb.ModelReadyRequest, grpc_context: RayServegRPCContext) -> Any:
        async def work(_: Caller) -> pb.ModelReadyResponse:
            asked = parsed(request)
            info = (await served(self._services, asked.name, _version(asked.version)))[1]
            return pb.ModelReadyResponse(ready=info.ready)

        return await self._run(grpc_context, OIP_GRPC_SERVICE + "ModelReady", work)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, grpc_context: RayServegRPCContext
    ) -> Any:
        async def work(_: Caller) -> pb.ServerMetadataResponse:
            parsed(request)
            return _message(server_metadata(), pb.ServerMetadataResponse())

        return await self._run(grpc_context, OIP_GRPC_SERVICE + "ServerMetadata", work)

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, grpc_context: RayServegRPCContext) -> Any:
        async def work(_: Caller) -> pb.ModelMetadataResponse:
            asked = parsed(request)
            found = await metadata(self._services, asked.name, _version(asked.version))
            return _message(found, pb.ModelMetadataResponse())

        return await self._run(grpc_context, OIP_GRPC_SERVICE + "ModelMetadata", work)

    async def ModelConfig(self, request: pb.ModelConfigRequest, grpc_context: RayServegRPCContext) -> Any:
        async def work(_: Caller) -> pb.ModelConfigResponse:
            asked = parsed(request)
            found = await config(self._services, asked.name, _version(asked.version))
            return pb.ModelConfigResponse(config=_message(found, pb.ModelConfig()))

        return await self._run(grpc_context, OIP_GRPC_SERVICE + "ModelConfig", work)

    async def RepositoryIndex(
        self, request: pb.RepositoryIndexRequest, grpc_context: RayServegRPCContext
    ) -> Any:
        async def work(_: Caller) -> pb.RepositoryIndexResponse:
            asked = parsed(request)
            index = await repository(self._services, only_ready=asked.ready)
            return _message({"models": index}, pb.RepositoryIndexResponse())

        return await self._run(grpc_context, OIP_GRPC_SERVICE + "RepositoryIndex", work)

    async def ModelInfer(self, request: pb.ModelInferRequest, grpc_context: RayServegRPCContext) -> Any:
        async def work(who: Caller) -> pb.ModelInferResponse:
            asked = parsed(request)
            found = self._services
            if asked.model_version:
                entry, _ = await served(found, asked.model_name, asked.model_version)
            else:  # as /v2/models/{name}/infer: no readiness call before the model's own
                entry = found.catalog.oip_entry(asked.model_name)
            document, data = _document(asked, found.config.limits)
            pipeline = isinstance(entry, PipelineConfig)
            checked = oip.parse_document(document, data, found.config.limits, entry.task, SCHEMAS[entry.task],
                                         pipeline)  # fmt: skip
            version, results = await infer(found, who, entry, checked)
            return _response(checked, entry.name, version, who.request_id, entry.task, results)

        return await self._run(grpc_context, OIP_GRPC_SERVICE + "ModelInfer", work)
