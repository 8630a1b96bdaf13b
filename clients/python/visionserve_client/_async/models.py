"""The models and the service: metadata, readiness and health."""

from __future__ import annotations

from visionserve_client import _calls as calls
from visionserve_client.types import Health, ModelInfo, ModelLabels, ModelList, Readiness

from ._base import AsyncClientBase


class AsyncModelsAndHealth(AsyncClientBase):
    async def models(
        self,
        *,
        timeout: float | None = None,
    ) -> ModelList:
        """Every model and pipeline with its metadata."""
        return await self._send(calls.models(), timeout)

    async def model(
        self,
        name: str,
        *,
        timeout: float | None = None,
    ) -> ModelInfo:
        """One model's or pipeline's metadata."""
        return await self._send(calls.model(name), timeout)

    async def labels(
        self,
        name: str,
        *,
        timeout: float | None = None,
    ) -> ModelLabels:
        """The model's label set, in the order of its class indices (empty for a model without
        one, such as a CLIP image encoder without a configured label set)."""
        return await self._send(calls.labels(name), timeout)

    async def health(
        self,
        *,
        timeout: float | None = None,
    ) -> Health:
        """The HTTP service is up."""
        return await self._send(calls.health(), timeout)

    async def ready(
        self,
        *,
        timeout: float | None = None,
    ) -> Readiness:
        """Readiness of every model; raises ``UnavailableError`` while one is not ready."""
        return await self._send(calls.ready(), timeout)
