# generated from visionserve_client/_async/models.py by scripts/make_sync.py: do not edit
"""The models and the service: metadata, readiness and health."""

from __future__ import annotations

from visionserve_client import _calls as calls
from visionserve_client.types import Health, ModelInfo, ModelLabels, ModelList, Readiness

from ._base import ClientBase


class ModelsAndHealth(ClientBase):
    def models(
        self,
        *,
        timeout: float | None = None,
    ) -> ModelList:
        """Every model and pipeline with its metadata."""
        return self._send(calls.models(), timeout)

    def model(
        self,
        name: str,
        *,
        timeout: float | None = None,
    ) -> ModelInfo:
        """One model's or pipeline's metadata."""
        return self._send(calls.model(name), timeout)

    def labels(
        self,
        name: str,
        *,
        timeout: float | None = None,
    ) -> ModelLabels:
        """The model's label set, in the order of its class indices (empty for a model without
        one, such as a CLIP image encoder without a configured label set)."""
        return self._send(calls.labels(name), timeout)

    def health(
        self,
        *,
        timeout: float | None = None,
    ) -> Health:
        """The HTTP service is up."""
        return self._send(calls.health(), timeout)

    def ready(
        self,
        *,
        timeout: float | None = None,
    ) -> Readiness:
        """Readiness of every model; raises ``UnavailableError`` while one is not ready."""
        return self._send(calls.ready(), timeout)
