"""Models served inside the ingress replica (``deployment.placement: ingress``).

A model replica costs every request a hop: the handle call, its serialisation and a second
process's scheduling. On a small CPU machine serving one light model that hop is a large part
of the request (measured in load_tests/README.md), so a model may instead run in each ingress
replica: the same ModelDeployment code (decode pool, batcher, inference thread), called in
process. It then scales with the ingress and shares its resources and its fate.

``InProcessHandle`` is called like a Ray DeploymentHandle (``handle.method.remote(*args)``,
awaited), so the ingress has one request path, with its timeouts, audit and error mapping,
whichever way a model is placed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from visionserve.config import LimitsConfig, MetricsConfig, ModelConfig


class _InProcessMethod:
    def __init__(self, method: Callable[..., Any]) -> None:
        self._method = method

    async def remote(self, *args: Any) -> Any:
        result = self._method(*args)
        return await result if inspect.isawaitable(result) else result


class InProcessHandle:
    def __init__(self, replica: Any) -> None:
        self.replica = replica

    def __getattr__(self, method: str) -> _InProcessMethod:
        return _InProcessMethod(getattr(self.replica, method))


def colocated_models(
    models: list[ModelConfig],
    limits: LimitsConfig,
    model_dirs: list[str],
    cache_dir: str,
    metrics: MetricsConfig,
) -> dict[str, InProcessHandle]:
    """The models placed in the ingress, loaded here; none loads torch or a model otherwise."""
    placed = [m for m in models if m.deployment.placement == "ingress"]
    if not placed:
        return {}
    # Imported only when needed: the model code pulls in the model runtimes.
    from visionserve.deployments.model import ModelDeployment

    return {
        m.name: InProcessHandle(ModelDeployment(m, limits, model_dirs, cache_dir, metrics)) for m in placed
    }
