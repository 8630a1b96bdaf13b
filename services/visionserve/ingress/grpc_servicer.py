"""The gRPC service's registration, with request parsers that never raise.

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

from visionserve.v1.visionserve_pb2_grpc import add_VisionServeServicer_to_server

IMPORT_PATH = "visionserve.ingress.grpc_servicer.add_servicer"


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


def add_servicer(servicer: Any, server: Any) -> None:
    """``add_VisionServeServicer_to_server``, with parsers that flag what they cannot parse."""
    add_VisionServeServicer_to_server(servicer, _TolerantServer(server))
