# generated from visionserve_client/_async/explanations.py by scripts/make_sync.py: do not edit
"""Explanations: why the model decided, as a map per method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from visionserve_client import _calls as calls
from visionserve_client._calls import ImageInput
from visionserve_client._wire import ProgressCallback
from visionserve_client.types import ExplainMethod, ExplainResponse

from ._base import ClientBase


class Explanations(ClientBase):
    def explain(
        self,
        image: ImageInput,
        *,
        methods: Sequence[ExplainMethod] = ("gradcam",),
        model: str | None = None,
        target_class: int | None = None,
        target_label: str | None = None,
        target_text: str | None = None,
        target_box_index: int | None = None,
        target_box: Sequence[float] | None = None,
        layer: str | None = None,
        fidelity: bool | None = None,
        overlay: bool | None = None,
        input_map: bool | None = None,
        options: Mapping[str, float | int | str] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> ExplainResponse:
        """Why the model decided: a map per method for a class, box, segment or text query.

        ``input_map`` adds each map at the model input's resolution (``result.geometry`` places
        it). ``options`` carries method settings by name (steps, samples, patch, stride, masks...).
        ``on_progress`` hears each method start and the batches of the long ones (occlusion,
        RISE, Integrated Gradients...) while they run; the answer is the same.
        """
        call = calls.explain(
            image,
            model,
            methods,
            target_class=target_class,
            target_label=target_label,
            target_text=target_text,
            target_box_index=target_box_index,
            target_box=list(target_box) if target_box is not None else None,
            layer=layer,
            fidelity=fidelity,
            overlay=overlay,
            input_map=input_map,
            **dict(options or {}),
        )
        return self._maybe_streamed(call, "/v1/explain/stream", timeout, on_progress)
