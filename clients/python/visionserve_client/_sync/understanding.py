# generated from visionserve_client/_async/understanding.py by scripts/make_sync.py: do not edit
"""Understanding views: filters, reference sets and what a model sees in them, class models,
inversion, DeepDream and attention rollout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from visionserve_client import _calls as calls
from visionserve_client._calls import ImageInput, Images
from visionserve_client._wire import ProgressCallback
from visionserve_client.types import (
    ClassModelResponse,
    DeepDreamResponse,
    FeatureMapResponse,
    FiltersResponse,
    InversionResponse,
    NeighboursResponse,
    ReferenceSetInfo,
    ReferenceSetList,
    RolloutResponse,
    TopPatchesResponse,
)

from ._base import ClientBase


class Understanding(ClientBase):
    def understand_filters(
        self,
        *,
        model: str | None = None,
        timeout: float | None = None,
    ) -> FiltersResponse:
        """The first convolution's weights (exactly) and a picture of them."""
        return self._send(calls.understand_filters(model), timeout)

    def create_reference_set(
        self,
        name: str,
        images: Images,
        *,
        timeout: float | None = None,
    ) -> ReferenceSetInfo:
        """Keep a named set of images on the service, for neighbours, maps and top patches."""
        return self._send(calls.create_reference_set(name, images), timeout)

    def reference_sets(self, *, timeout: float | None = None) -> ReferenceSetList:
        return self._send(calls.reference_sets(), timeout)

    def reference_set(self, set_id: str, *, timeout: float | None = None) -> ReferenceSetInfo:
        return self._send(calls.reference_set(set_id), timeout)

    def delete_reference_set(self, set_id: str, *, timeout: float | None = None) -> None:
        self._send(calls.delete_reference_set(set_id), timeout)

    def neighbours(
        self,
        reference_set: str,
        image: ImageInput | None = None,
        *,
        item: int | None = None,
        k: int | None = None,
        metric: Literal["cosine", "l2"] | None = None,
        layer: str | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> NeighboursResponse:
        """The set's nearest images to a query image, or to its own image ``item``."""
        options = {"item": item, "k": k, "metric": metric, "layer": layer, "model": model}
        return self._send(calls.neighbours(reference_set, image, **options), timeout)

    def feature_map(
        self,
        reference_set: str,
        *,
        method: Literal["pca", "tsne"] | None = None,
        layer: str | None = None,
        seed: int | None = None,
        perplexity: float | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> FeatureMapResponse:
        """The set laid out in 2-D (coordinates and a picture with thumbnails)."""
        options = {"method": method, "layer": layer, "seed": seed, "perplexity": perplexity, "model": model}
        return self._send(calls.feature_map(reference_set, **options), timeout)

    def top_patches(
        self,
        reference_set: str,
        channel: int,
        *,
        layer: str | None = None,
        k: int | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> TopPatchesResponse:
        """The set's images that most excite one channel, cropped to the unit's receptive field."""
        return self._send(
            calls.top_patches(reference_set, channel, layer=layer, k=k, model=model),
            timeout,
        )

    def class_model(
        self,
        *,
        target_class: int | None = None,
        target_label: str | None = None,
        model: str | None = None,
        options: Mapping[str, float | int] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> ClassModelResponse:
        """An image made to maximise a class (options: steps, learning_rate, l2, jitter,
        blur_every, blur_sigma, seed)."""
        call = calls.class_model(
            target_class=target_class, target_label=target_label, model=model, **dict(options or {})
        )
        return self._maybe_streamed(call, "/v1/understand/class-model/stream", timeout, on_progress)

    def invert(
        self,
        image: ImageInput,
        *,
        layer: str | None = None,
        model: str | None = None,
        options: Mapping[str, float | int] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> InversionResponse:
        """The image rebuilt from a layer's features (options: steps, learning_rate, tv_weight, seed)."""
        call = calls.inversion(image, layer=layer, model=model, **dict(options or {}))
        return self._maybe_streamed(call, "/v1/understand/inversion/stream", timeout, on_progress)

    def deepdream(
        self,
        image: ImageInput,
        *,
        layer: str | None = None,
        model: str | None = None,
        options: Mapping[str, float | int] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> DeepDreamResponse:
        """The image with a layer's activations amplified (options: steps, octaves,
        octave_scale, learning_rate, jitter, seed)."""
        call = calls.deepdream(image, layer=layer, model=model, **dict(options or {}))
        return self._maybe_streamed(call, "/v1/understand/deepdream/stream", timeout, on_progress)

    def attention_rollout(
        self,
        image: ImageInput,
        *,
        model: str | None = None,
        discard_ratio: float | None = None,
        timeout: float | None = None,
    ) -> RolloutResponse:
        """Where a vision transformer's class token draws from."""
        return self._send(
            calls.attention_rollout(image, model=model, discard_ratio=discard_ratio),
            timeout,
        )
