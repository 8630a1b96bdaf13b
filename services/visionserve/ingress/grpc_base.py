"""What every gRPC method of the ingress shares: the key check, the request metrics and the
answer to an error (its gRPC status, "code: message (request_id=...)" as details)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from ray.serve.context import _get_serve_request_context

from visionserve.errors import BadRequest, grpc_status
from visionserve.ingress.auth import Authenticator, presented_key
from visionserve.ingress.errors import describe_error
from visionserve.ingress.gateway import Caller
from visionserve.ingress.grpc_servicer import Malformed
from visionserve.ingress.routers.common import Services
from visionserve.ingress.routes import scope_for_rpc
from visionserve.metrics import IngressMetrics, note_error

if TYPE_CHECKING:
    from ray.serve.grpc_util import RayServegRPCContext

Answer = TypeVar("Answer")


class RpcRunner:
    """Mixed into the ingress deployment (through each service's methods): the RPCs share its
    services with the HTTP routes."""

    _services: Services
    _metrics: IngressMetrics
    _auth: Authenticator

    async def _run(
        self, context: RayServegRPCContext, method: str, work: Callable[[Caller], Awaitable[Answer]]
    ) -> Answer:
        """``work`` for the caller whose key allows ``method`` (``/package.Service/Rpc``),
        measured; an error sets the call's status and details, then propagates."""
        request_id = _request_id()
        with self._metrics.request("grpc", method) as record:
            try:
                metadata = {key.lower(): value for key, value in context.invocation_metadata()}
                key_name = self._auth.check(presented_key(metadata), scope_for_rpc(method))
                answer = await work(Caller(request_id=request_id, endpoint="grpc", key_name=key_name))
            except Exception as exc:
                status, code, message = describe_error(exc)
                record.status = status
                note_error(code)
                context.set_code(getattr(grpc.StatusCode, grpc_status(status)))
                context.set_details(f"{code}: {message} (request_id={request_id})")
                raise
            record.status = 200
        return answer


def parsed(message: Any) -> Any:
    """The request message; BadRequest for bytes that did not parse as one."""
    if isinstance(message, Malformed):
        raise BadRequest(f"the request is not a valid protobuf message of its type: {message.reason}")
    return message


def _request_id() -> str:
    """The id Serve returns in the call's trailing metadata (the caller's ``request_id``
    metadata, or one Serve made), so that the response, its trailer, the logs and the audit
    record name the call alike."""
    return _get_serve_request_context().request_id or uuid.uuid4().hex


__all__ = ["RpcRunner", "parsed"]
