"""gRPC health checking (``grpc.health.v1.Health``) for load balancers and Kubernetes probes:
SERVING while every model is ready, as /readyz says 200; open to callers without a key, as
/readyz is.

The services it knows: the server as a whole (``""``), VisionServe's own and the Open
Inference Protocol's, all serving or not together, since they answer from the same models. A
Watch streams the status, then each change, for up to five minutes (then the client watches
again); each replica holds a bounded number of them, since each holds a request slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from grpc_health.v1 import health_pb2 as pb

from visionserve.errors import Overloaded, ServiceNotFound
from visionserve.ingress.errors import shown
from visionserve.ingress.gateway import Caller
from visionserve.ingress.grpc_base import RpcRunner, parsed
from visionserve.ingress.routers.oip import server_ready
from visionserve.ingress.routes import GRPC_SERVICE, HEALTH_GRPC_SERVICE, OIP_GRPC_SERVICE

if TYPE_CHECKING:
    from ray.serve.grpc_util import RayServegRPCContext

SERVICES = ("", GRPC_SERVICE.strip("/"), OIP_GRPC_SERVICE.strip("/"))
MAX_WATCHES = 16
"""Watch streams one ingress replica holds at once; more are refused (UNAVAILABLE)."""
WATCH_POLL_S = 2.0
"""How often a Watch looks at readiness again."""
WATCH_MAX_S = 300.0
"""A Watch ends after this long (its client watches again): an open stream holds one of the
ingress's request slots, and a replica that stops waits for its requests."""

_SERVING, _NOT_SERVING = pb.HealthCheckResponse.SERVING, pb.HealthCheckResponse.NOT_SERVING


class HealthGrpcMethods(RpcRunner):
    """Mixed into the ingress deployment: Check, List and Watch."""

    _watches = 0

    async def _status(self) -> Any:
        return _SERVING if await server_ready(self._services) else _NOT_SERVING

    async def Check(self, request: pb.HealthCheckRequest, grpc_context: RayServegRPCContext) -> Any:
        async def work(_: Caller) -> pb.HealthCheckResponse:
            service = parsed(request).service
            if service not in SERVICES:
                raise ServiceNotFound(f"no service {shown(service)!r} here: ask for one of {list(SERVICES)}")
            return pb.HealthCheckResponse(status=await self._status())

        return await self._run(grpc_context, HEALTH_GRPC_SERVICE + "Check", work)

    async def List(self, request: pb.HealthListRequest, grpc_context: RayServegRPCContext) -> Any:
        async def work(_: Caller) -> pb.HealthListResponse:
            parsed(request)
            status = await self._status()
            return pb.HealthListResponse(
                statuses={name: pb.HealthCheckResponse(status=status) for name in SERVICES}
            )

        return await self._run(grpc_context, HEALTH_GRPC_SERVICE + "List", work)

    async def Watch(
        self, request: pb.HealthCheckRequest, grpc_context: RayServegRPCContext
    ) -> AsyncIterator[pb.HealthCheckResponse]:
        async def start(_: Caller) -> str:
            service: str = parsed(request).service
            if self._watches >= MAX_WATCHES:
                raise Overloaded(f"this replica already streams {MAX_WATCHES} health watches; use Check")
            self._watches += 1
            return service

        service = await self._run(grpc_context, HEALTH_GRPC_SERVICE + "Watch", start)
        try:
            if service not in SERVICES:
                # The protocol keeps this stream open in case the service appears; ours are
                # fixed, so it ends here rather than hold a request slot for nothing.
                yield pb.HealthCheckResponse(status=pb.HealthCheckResponse.SERVICE_UNKNOWN)
                return
            last = None
            ends = time.monotonic() + WATCH_MAX_S
            while time.monotonic() < ends:
                status = await self._status()
                if status != last:
                    yield pb.HealthCheckResponse(status=status)
                    last = status
                await asyncio.sleep(WATCH_POLL_S)
        finally:
            self._watches -= 1
