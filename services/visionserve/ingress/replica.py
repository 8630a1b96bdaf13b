"""What this process's ingress replica built, for its middlewares and route handlers.

The application, its middlewares and its handlers are module-level (``ingress.api``, the
routers), built before any replica exists; the replica's constructor publishes what it built
here, once: Serve runs one ingress replica a process. Tests publish a fake of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from visionserve.config import MetricsConfig
from visionserve.metrics import IngressMetrics

if TYPE_CHECKING:
    from visionserve.ingress.admission import AdmissionControl
    from visionserve.ingress.auth import Authenticator
    from visionserve.ingress.routers.common import Services

NO_METRICS = IngressMetrics(MetricsConfig(enabled=False))
"""What requests are measured with while no replica has published its own."""


@dataclass(frozen=True)
class Replica:
    metrics: IngressMetrics
    auth: Authenticator
    admission: AdmissionControl | None
    services: Services


_current: Replica | None = None


def publish(replica: Replica | None) -> None:
    """This process's ingress replica (None: none, as in tests that run without one)."""
    global _current
    _current = replica


def current() -> Replica | None:
    return _current
