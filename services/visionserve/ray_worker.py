"""What every worker process of a local Ray runs before its first task or actor.

``visionserve.local`` names ``setup`` as Ray's ``worker_process_setup_hook``.
"""

from __future__ import annotations

from typing import Any


def setup() -> None:
    _reuse_direct_ingress_http_ports()


def _reuse_direct_ingress_http_ports() -> None:
    """Let a replacement ingress replica bind the HTTP port of the one it replaces.

    Ray Serve binds a direct-ingress replica's HTTP socket without SO_REUSEADDR (its gRPC
    server, like every gRPC server, sets it). When a replica dies, the kernel keeps the
    connections it had open in FIN-WAIT/TIME-WAIT on its port for up to two minutes; the
    replacement's bind then fails, Ray blocks that port for good and the service comes back
    on the next port of the range, not the configured one. Ray's own socket setup for its
    proxy (``enable_so_reuseport``: SO_REUSEADDR and SO_REUSEPORT) fixes it. Two live replicas
    never share a port: Serve's controller gives a port to a new replica only once the
    previous holder is gone.
    """
    from ray.serve._private import replica

    original = replica.start_asgi_http_server
    if getattr(original, "__wrapped__", None) is not None:
        return

    async def start_reusing_address(*args: Any, **kwargs: Any) -> Any:
        kwargs["enable_so_reuseport"] = True
        return await original(*args, **kwargs)

    start_reusing_address.__wrapped__ = original  # type: ignore[attr-defined]
    replica.start_asgi_http_server = start_reusing_address
