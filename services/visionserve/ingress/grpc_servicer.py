"""The gRPC services' registration, with request parsers that never raise.

Three services share the port: VisionServe's own (protos/visionserve/v1), the Open Inference
Protocol's ``inference.GRPCInferenceService`` (protos/visionserve/oip/v2) and gRPC health
checking (``grpc.health.v1.Health``). Serve hands every call to the ingress method named after
its RPC (``ingress.grpc_api``, ``grpc_oip``, ``grpc_health``).

grpc's asyncio server answers an exception from a request parser with UNKNOWN ("Unexpected
DecodeError"), as if the service had failed, when the caller's bytes are at fault. Here each
method's parser returns ``Malformed`` for bytes that are not its message; the method answers
that with INVALID_ARGUMENT, counted and logged like every other bad request. Serve's gRPC
servers (proxy and ingress replica) call ``add_servicer`` by its import path
(``grpc_servicer_functions``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1.health_pb2_grpc import add_HealthServicer_to_server

from visionserve.oip.v2 import open_inference_pb2 as oip_pb
from visionserve.v1.visionserve_pb2_grpc import add_VisionServeServicer_to_server

IMPORT_PATH = "visionserve.ingress.grpc_servicer.add_servicer"
OIP_SERVICE = "inference.GRPCInferenceService"
"""The protocol's name for the service our proto declares in its own package."""


class Malformed:
    """Stands in for a request message whose bytes did not parse."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _tolerant(parse: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if parse is None:
        return None

    def parse_or_flag(data: bytes) -> Any:
        try:
            return parse(data)
        except (DecodeError, ValueError, RuntimeError) as exc:  # RuntimeError: upb's recursion limit
            return Malformed(str(exc) or type(exc).__name__)

    return parse_or_flag


def _tolerant_handler(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    return handler._replace(request_deserializer=_tolerant(handler.request_deserializer))


class _TolerantServer:
    """Hands the generated registration's handlers on with tolerant parsers."""

    def __init__(self, server: Any) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: tuple[Any, ...]) -> None:
        for generic in handlers:
            methods = getattr(generic, "_method_handlers", {})
            generic._method_handlers = {name: _tolerant_handler(h) for name, h in methods.items()}
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        register = getattr(self._server, "add_registered_method_handlers", None)
        if register is not None:
            register(service, {name: _tolerant_handler(h) for name, h in handlers.items()})


def _add_oip_servicer(servicer: Any, server: Any) -> None:
    """Every RPC of protos/visionserve/oip/v2's service, registered under the protocol's
    service name (what protoc's generated registration would do, with another name)."""
    methods = oip_pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods
    handlers = {
        method.name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=getattr(oip_pb, method.input_type.name).FromString,
            response_serializer=getattr(oip_pb, method.output_type.name).SerializeToString,
        )
        for method in methods
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(OIP_SERVICE, handlers),))


def add_servicer(servicer: Any, server: Any) -> None:
    """The three services' registrations, with parsers that flag what they cannot parse."""
    tolerant = _TolerantServer(server)
    add_VisionServeServicer_to_server(servicer, tolerant)
    _add_oip_servicer(servicer, tolerant)
    add_HealthServicer_to_server(servicer, tolerant)
