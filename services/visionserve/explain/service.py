"""Explain one image for one loaded model: target, methods, views, fidelity. No Ray.

``ExplainableModel`` wraps a ModelEngine (the explanation deployment's own copy of the model)
with what explanations need: a differentiable forward of the torch module where there is
one (gradient-free methods only otherwise), the target, and the geometry that maps a map at
the model's input back onto the original image. One explanation runs at a time per model: the
layer hooks are per module, so concurrent requests would see each other's activations.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from visionserve.custom import VisionModel
from visionserve.engine import ModelEngine
from visionserve.errors import ExplanationTooCostly, Unprocessable
from visionserve.explain import views
from visionserve.explain.cost import FIRST_STEPS, GRADIENT, forward_passes
from visionserve.explain.fidelity import deletion_insertion
from visionserve.explain.layers import default_layer, find_layer
from visionserve.explain.line import WorkLine
from visionserve.explain.methods import METHODS, CamExplainer, Recorded
from visionserve.explain.options import ExplainParams, class_index, parse_explain_params
from visionserve.explain.precision import bf16_autocast, bf16_pays, in_fp32
from visionserve.explain.progress import NO_PROGRESS, Progress
from visionserve.explain.support import explained_through_results, supported_methods, user_gradients
from visionserve.explain.targets import (
    BoxScore,
    ClassLogit,
    Cosine,
    SegmentationClass,
    Target,
    YoloxBoxScore,
    first_tensor,
)
from visionserve.explain.typed import TypedForward, result_target
from visionserve.imaging import DecodedImage, decode, displayed_pixels
from visionserve.runtime.torch_runner import TorchRunner
from visionserve.tasks import Prepared
from visionserve_client.types import (
    ExplainMethod,
    ExplainResult,
    ExplainTarget,
    Fidelity,
    FloatMap,
    ImageSize,
    MethodExplanation,
)


class ExplainableModel:
    def __init__(self, engine: ModelEngine, line: WorkLine | None = None, *, bf16: bool = False) -> None:
        """``line``: the replica's line of work (default: its own); ``bf16``: see ``bf16_pays``."""
        self.engine = engine
        self._line = line or WorkLine()
        cfg = engine.cfg
        runner = engine.runner
        self.module: torch.nn.Module | None = runner.module if isinstance(runner, TorchRunner) else None
        if isinstance(runner, TorchRunner):
            runner.host_boundary()  # the methods hand the module CPU float32 tensors
        self.methods = supported_methods(cfg)
        self.through_results = explained_through_results(cfg)
        """Occlusion and RISE read typed results (a user's model, an instance segmenter)."""
        self.user_gradients = user_gradients(cfg)
        self.bf16 = bf16 and bf16_pays(cfg, runner)  # methods with bf16_keeps_map run in bf16
        self.gradients = any(METHODS[m].needs_gradients for m in self.methods)
        self.layer: str | None = None
        """Where gradient and CAM methods (and the understanding views) look by default."""
        if self.module is not None:
            try:
                self.layer = cfg.explain.layer or default_layer(self.module)
                find_layer(self.module, self.layer)
            except Unprocessable:
                if self.gradients or cfg.explain.layer:  # a layer they need, or one named wrongly
                    raise
        if self.user_gradients:
            self._check_user_module()

    def turn(self, progress: Progress = NO_PROGRESS) -> AbstractContextManager[None]:
        """Taken by whatever runs the module with hooks (an explanation or a view): this model's
        turn in the replica's line, ``progress`` hearing how many are ahead while it waits."""
        return self._line.turn(self.engine.cfg.name, progress)

    def _check_user_module(self) -> None:
        """Refuse at load a user's torch model whose raw output gradient methods cannot read."""
        assert self.module is not None
        task, name = self.engine.cfg.task, self.engine.cfg.name
        user = self.engine.task.user  # type: ignore[attr-defined]
        if task in ("detection", "instance_segmentation"):
            if type(user).box_scores is VisionModel.box_scores:
                raise TypeError(
                    f"explain.gradients of {name} needs {type(user).__name__}.box_scores (or set it false)"
                )
            return
        gray = DecodedImage(pixels=np.full((64, 64, 3), 128, dtype=np.uint8), format="PNG")
        with torch.no_grad():
            x = torch.from_numpy(self.engine.task.preprocess(gray).tensor)[None]
            logits = first_tensor(self.module(x))
        classes = len(self.engine.labels)
        ndim = 2 if task == "classification" else 4
        if logits.ndim != ndim or logits.shape[1] != classes:
            raise TypeError(
                f"gradient explanations of {name} read its module's (first) output as logits of "
                f"{classes} classes, {'(N, C)' if ndim == 2 else '(N, C, h, w)'}; it returns "
                f"{tuple(logits.shape)}: set explain.gradients: false for occlusion and RISE only"
            )

    def forward(self, x: torch.Tensor) -> Any:
        if self.module is not None:
            output = in_fp32(self.module(x))
        else:  # gradient-free methods over any runner
            output = torch.from_numpy(np.asarray(self.engine.runner.run(x.numpy())))
        if self.engine.cfg.source.head == "mask_sigmoid":
            return torch.cat([1.0 - output, output], dim=1)  # background, foreground
        return output

    def _box_target(
        self, x: torch.Tensor, item: Prepared, params: ExplainParams
    ) -> tuple[Target, ExplainTarget]:
        labels = self.engine.labels
        if params.target_box is not None:
            if params.target_label is None or params.target_label not in labels:
                raise Unprocessable("target_box needs target_label, one of the detector's labels")
            box, label = params.target_box, labels.index(params.target_label)
            index = None
        else:
            detected = self.engine.infer([item], [self.engine.parse_params({})])[0]
            detections = detected.detections  # type: ignore[attr-defined]
            index = params.target_box_index or 0
            if index >= len(detections):
                raise Unprocessable(
                    f"target_box_index {index} is out of range: the detector found {len(detections)} boxes"
                )
            box, label = detections[index].box, detections[index].class_index
        in_input = torch.tensor(box, dtype=torch.float32) * item.scale
        if self.module is not None:
            target: Target = BoxScore(label, in_input)
        else:
            cells, strides = self.engine.task._grid  # type: ignore[attr-defined]
            target = YoloxBoxScore(label, in_input, torch.from_numpy(cells), torch.from_numpy(strides))
        with torch.no_grad():
            score = float(target(self.forward(x))[0])
        described = ExplainTarget(kind="box", index=index, label=labels[label], box=box, score=score)
        return target, described

    def _target(self, x: torch.Tensor, item: Prepared, params: ExplainParams) -> tuple[Target, ExplainTarget]:
        task, labels = self.engine.cfg.task, self.engine.labels
        if task == "detection":
            return self._box_target(x, item, params)
        if task == "clip":
            return self._text_target(x, params)
        with torch.no_grad():
            output = self.forward(x)
        index = self._class_index(params, labels, output)
        target: Target
        if task == "classification":
            target = ClassLogit(index)
            return target, ExplainTarget(
                kind="class", index=index, label=labels[index], score=float(target(output)[0])
            )
        logits = output["out"] if isinstance(output, dict) else output
        mask = (logits[0].argmax(dim=0) == index).float()
        if mask.sum() == 0:
            raise Unprocessable(f"class {labels[index]!r} covers no pixel of this image: nothing to explain")
        target = SegmentationClass(index, mask)
        score = float(target(output)[0])
        return target, ExplainTarget(kind="segmentation_class", index=index, label=labels[index], score=score)

    def _text_target(self, x: torch.Tensor, params: ExplainParams) -> tuple[Target, ExplainTarget]:
        """A text query as given (target_text), or a zero-shot label (target_label) through the
        model's prompt templates, averaged as /v1/zero-shot does: then the explained cosine is
        the similarity that zero-shot reported for the label."""
        prompts = self._prompts(params)
        mean = self.engine.encode_texts(prompts).mean(axis=0)
        embedding = torch.from_numpy(mean / max(float(np.linalg.norm(mean)), 1e-12))
        target: Target = Cosine(embedding)
        score = float(target(self.forward(x))[0])
        return target, ExplainTarget(
            kind="text", text=params.target_text, label=params.target_label, score=score
        )

    def _prompts(self, params: ExplainParams) -> list[str]:
        if params.target_text and params.target_label is None:
            prompts = [params.target_text]
        elif params.target_label and params.target_text is None:
            prompts = [t.replace("{}", params.target_label) for t in self.engine.cfg.defaults.templates]
        else:
            raise Unprocessable(
                "explaining a CLIP model needs target_text (a query, as written) or target_label "
                "(a zero-shot label, through the model's prompt templates), one of them"
            )
        self.engine.check_texts(prompts)
        return prompts

    def _check_target(self, params: ExplainParams) -> None:
        """What the target names, checked before the request waits for its model (a box's
        index and a class's pixels need the model's answer: they are checked in turn)."""
        if self.through_results:
            return
        if self.engine.cfg.task == "clip":
            self._prompts(params)
        else:
            class_index(params.target_label, params.target_class, self.engine.labels)

    def _class_index(self, params: ExplainParams, labels: list[str], output: Any) -> int:
        named = class_index(params.target_label, params.target_class, labels)
        if named is not None:
            return named
        logits = output["out"] if isinstance(output, dict) else output
        if self.engine.cfg.task == "classification":
            return int(logits[0].argmax())
        areas = torch.bincount(logits[0].argmax(dim=0).flatten(), minlength=logits.shape[1])
        if len(areas) > 1 and areas[1:].sum() > 0:
            areas[0] = 0  # the largest class that is not the background
        return int(areas.argmax())

    def _check(self, params: ExplainParams) -> None:
        for method in params.methods:
            if method not in METHODS:
                raise Unprocessable(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
            if method not in self.methods:
                offered = ", ".join(self.methods) or "none"
                raise Unprocessable(
                    f"method {method!r} is not available for model {self.engine.cfg.name}; "
                    f"it offers: {offered}"
                )
        if params.layer is not None:
            if self.module is None or not self.gradients:
                raise Unprocessable(
                    f"layer applies to gradient and CAM methods, which {self.engine.cfg.name} does not offer"
                )
            find_layer(self.module, params.layer)

    def check_request(self, raw_params: dict[str, Any]) -> None:
        """What can be refused before the image is decoded: the methods, the layer, the target."""
        params = parse_explain_params(raw_params)
        self._check(params)
        self._check_target(params)

    def explain(
        self,
        data: bytes,
        raw_params: dict[str, Any],
        *,
        max_pixels: int,
        max_passes: int | None = None,
        progress: Progress = NO_PROGRESS,
    ) -> ExplainResult:
        """``max_passes``: the explanation's cost limit, checked again here where Score-CAM's
        cost (a pass per channel of its layer) is known, before that cost is paid.
        ``progress`` hears each method begin and each batch of the batched ones end, and stops
        the work when cancelled."""
        params = parse_explain_params(raw_params)
        params = replace(params, options=replace(params.options, progress=progress))
        self._check(params)
        self._check_target(params)
        # Decoded as the model deployment decodes it, so that the explained input is the one
        # that was predicted on (a large JPEG at a reduced DCT scale).
        image = decode(data, max_pixels=max_pixels, needed=self.engine.task.decode_size)
        item = self.engine.task.preprocess(image)
        x = torch.from_numpy(item.tensor)[None]
        for method in params.methods:
            METHODS[method].check(int(x.shape[2]), int(x.shape[3]), params.options)
        with self.turn(progress):  # a request behind others hears how many are ahead
            forward: Any = self.forward
            if self.through_results:
                forward = TypedForward(self.engine, item)
                module = self.module if self.user_gradients else None
                target, described = result_target(self.engine, forward, x, params, module)
            else:
                target, described = self._target(x, item, params)
            recorded: dict[str, Recorded] = {}  # CAM methods on one layer share one pass
            if max_passes is not None:
                left = self._check_cost(x, target, params, raw_params, recorded, max_passes)
                if params.options.steps is None:  # Integrated Gradients may refine within the budget
                    max_steps = min(params.options.max_steps, FIRST_STEPS + left // GRADIENT)
                    params = replace(params, options=replace(params.options, max_steps=max_steps))
            explanations = []
            for method in params.methods:
                progress.begin(method)
                explanations.append(self._run(method, x, target, params, image, item, recorded, forward))
        return ExplainResult(
            image=ImageSize(width=image.width, height=image.height),
            geometry=self.engine.task.geometry(item, int(x.shape[3]), int(x.shape[2])),
            target=described,
            explanations=explanations,
        )

    def _check_cost(
        self,
        x: torch.Tensor,
        target: Target,
        params: ExplainParams,
        raw_params: dict[str, Any],
        recorded: dict[str, Recorded],
        max_passes: int,
    ) -> int:
        """The cost on this input as preprocessed (a user model's size is known only now; the
        ingress counted its occlusion windows as one), Score-CAM's channels included; returns
        the passes left in the budget."""
        others = [m for m in params.methods if m != "scorecam"]
        passes = forward_passes(others, raw_params, max(int(x.shape[2]), int(x.shape[3])))
        if "scorecam" not in params.methods:
            if passes > max_passes:
                raise ExplanationTooCostly(
                    f"this explanation takes about {passes} forward passes of {self.engine.cfg.name} "
                    f"on its {int(x.shape[3])}x{int(x.shape[2])} input, over the limit of {max_passes} "
                    "(limits.max_explanation_passes): fewer steps, samples or masks, or a larger "
                    "occlusion stride"
                )
            return max_passes - passes
        layer = params.layer or str(self.layer)
        scorecam = METHODS["scorecam"]
        assert isinstance(scorecam, CamExplainer)
        recorded[layer] = scorecam.activations_and_gradients(self.module, x, target, layer)
        channels = int(recorded[layer][0].shape[1])
        passes += channels + GRADIENT
        if passes > max_passes:
            raise ExplanationTooCostly(
                f"this explanation takes about {passes} forward passes of {self.engine.cfg.name} "
                f"(Score-CAM: one per channel, {channels} on layer {layer}), over the "
                f"limit of {max_passes} (limits.max_explanation_passes): choose a layer with fewer "
                "channels or another CAM method"
            )
        return max_passes - passes

    def _run(
        self,
        method: ExplainMethod,
        x: torch.Tensor,
        target: Target,
        params: ExplainParams,
        image: DecodedImage,
        item: Prepared,
        recorded: dict[str, Recorded],
        forward: Any,
    ) -> MethodExplanation:
        """``forward``: what perturbation methods and fidelity run (the raw output, or the typed
        results of ``TypedForward``)."""
        started = time.perf_counter()
        explainer = METHODS[method]
        model: Any = self.module if explainer.needs_gradients else forward
        bf16 = self.bf16 and explainer.bf16_keeps_map
        with bf16_autocast(bf16):
            if isinstance(explainer, CamExplainer):
                layer = params.layer or str(self.layer)
                key = f"{layer}@bf16" if bf16 else layer  # what the activations were computed in
                if key not in recorded:
                    recorded[key] = explainer.activations_and_gradients(model, x, target, layer)
                attribution = explainer.explain(model, x, target, layer, params.options, recorded[key])
            else:
                attribution = explainer.explain(model, x, target, params.layer, params.options)
        attribution.params.update({"precision": "bf16"} if bf16 else {})
        geometry = self.engine.task.geometry(item, int(x.shape[3]), int(x.shape[2]))
        if method == "rise":  # its baseline is the mean over the image, not over a letterbox's padding
            x1, y1, x2, y2 = geometry.input_box
            attribution.raw = attribution.raw - attribution.raw[y1:y2, x1:x2].mean()
        at_input = views.to_input(attribution, x.shape[2], x.shape[3])
        seen = geometry.image_box
        raw = self.engine.task.map_to_original(at_input, item)
        signed = not (attribution.clip_negative or method in views.UNSIGNED)
        view = self.engine.task.map_to_original(
            views.normalised(method, attribution, x.shape[2], x.shape[3]), item
        )
        data, scale = views.float16_b64(raw)
        seconds = time.perf_counter() - started
        input_map = None
        if params.input_map:
            input_data, input_scale = views.float16_b64(at_input)
            input_map = FloatMap(shape=at_input.shape, scale=input_scale, data=input_data)
        overlay = views.overlay_png(displayed_pixels(image), view, signed, seen) if params.overlay else None
        fidelity, fidelity_seconds = None, None
        if params.fidelity:
            fidelity_started = time.perf_counter()
            squash = (
                (lambda out, s: torch.softmax(out, dim=1)[:, target.index])
                if isinstance(target, ClassLogit)
                else None
            )
            fidelity = Fidelity(**deletion_insertion(forward, x, at_input, target, squash=squash))
            fidelity_seconds = time.perf_counter() - fidelity_started
        return MethodExplanation(
            method=method,
            layer=attribution.layer,
            params={k: v for k, v in attribution.params.items() if isinstance(v, (int, float, str))},
            raw=FloatMap(shape=raw.shape, scale=scale, data=data),
            input_map=input_map,
            signed=signed,
            normalized_png=views.gray_png(view, signed),
            overlay_png=overlay,
            fidelity=fidelity,
            seconds=seconds,
            fidelity_seconds=fidelity_seconds,
        )
