"""Class activation maps: a map at a layer from its activations and, for most, the score's
gradient there (CAM, Grad-CAM, Grad-CAM++, Score-CAM, Eigen-CAM, guided Grad-CAM)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from visionserve.errors import Unprocessable
from visionserve.explain.base import Attribution, Explainer
from visionserve.explain.gradients import guided_gradient
from visionserve.explain.layers import default_layer, record
from visionserve.explain.options import Options
from visionserve.explain.targets import Target

Recorded = tuple[torch.Tensor, torch.Tensor, float]


class CamExplainer(Explainer):
    """A map at a layer's resolution from its activations (and the score's gradient there).

    Hooks: ``layer_map`` makes the map; ``check_layer`` refuses layers a method cannot use;
    ``params`` names what the response should cite."""

    bf16_keeps_map = True  # Pearson >= 0.9998 of fp32 for every CAM on the sample photos

    def activations_and_gradients(self, model: Any, x: torch.Tensor, target: Target, layer: str) -> Recorded:
        with torch.inference_mode(False), torch.enable_grad(), record(model, layer) as recording:
            inputs = x.detach().clone().requires_grad_(True)
            score = target(model(inputs))
            if not recording.activations:
                raise Unprocessable(f"layer {layer!r} does not take part in this model's forward pass")
            activation = recording.activations[-1]
            if activation.ndim != 4:
                raise Unprocessable(
                    f"layer {layer!r} gives {tuple(activation.shape)}, not a (N, C, H, W) map"
                )
            (grad,) = torch.autograd.grad(score.sum(), activation)
        # On the CPU in float32 whatever the module runs on: the maps are made there.
        return activation.detach().float().cpu(), grad.detach().float().cpu(), float(score[0].detach())

    @abstractmethod
    def layer_map(
        self,
        model: Any,
        x: torch.Tensor,
        target: Target,
        activation: torch.Tensor,
        grad: torch.Tensor,
        options: Options,
    ) -> np.ndarray:
        """(h, w) signed map at the layer's resolution."""

    def check_layer(self, requested: str | None) -> None:
        """Refuse a requested layer this method cannot use (None: the model's default)."""

    def params(self, options: Options) -> dict[str, Any]:
        return {}

    def explain(
        self,
        model: Any,
        x: torch.Tensor,
        target: Target,
        layer: str | None,
        options: Options,
        recorded: Recorded | None = None,
    ) -> Attribution:
        """``recorded``: the layer's activations, gradients and score from a pass already made
        for another CAM method of the same request (they share one forward and backward)."""
        self.check_layer(layer)
        layer = layer or default_layer(model)
        activation, grad, score = recorded or self.activations_and_gradients(model, x, target, layer)
        raw = self.layer_map(model, x, target, activation, grad, options)
        return Attribution(
            raw, score, layer=layer, params=self.params(options), at_layer=True, clip_negative=True
        )


class WeightedCAM(CamExplainer):
    """The layer's channels summed with per-channel weights; subclasses say how (``channel_weights``)."""

    @abstractmethod
    def channel_weights(
        self,
        model: Any,
        x: torch.Tensor,
        target: Target,
        activation: torch.Tensor,
        grad: torch.Tensor,
        options: Options,
    ) -> torch.Tensor:
        """(C,) weights of the layer's channels."""

    def layer_map(
        self,
        model: Any,
        x: torch.Tensor,
        target: Target,
        activation: torch.Tensor,
        grad: torch.Tensor,
        options: Options,
    ) -> np.ndarray:
        weights = self.channel_weights(model, x, target, activation, grad, options)
        return (weights[:, None, None] * activation[0]).sum(dim=0).numpy()


class GradCAM(WeightedCAM):
    """Selvaraju et al. 2017: channel weights are the spatial mean of the score's gradient."""

    name = "gradcam"

    def channel_weights(
        self, model: Any, x: Any, target: Any, activation: torch.Tensor, grad: torch.Tensor, options: Any
    ) -> torch.Tensor:
        return grad[0].mean(dim=(1, 2))


class GradCAMPlusPlus(WeightedCAM):
    """Chattopadhay et al. 2018, eq. 19: higher-order weights of positive gradients."""

    name = "gradcam_plus_plus"

    def channel_weights(
        self, model: Any, x: Any, target: Any, activation: torch.Tensor, grad: torch.Tensor, options: Any
    ) -> torch.Tensor:
        g, a = grad[0].double(), activation[0].double()
        g2, g3 = g**2, g**3
        sum_a = a.sum(dim=(1, 2), keepdim=True)
        alpha = g2 / (2 * g2 + sum_a * g3 + 1e-6)
        alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
        return (g.clamp(min=0) * alpha).sum(dim=(1, 2)).float()


class CAM(WeightedCAM):
    """Zhou et al. 2016: the linear head's weights of the class, for GAP + linear heads only."""

    name = "cam"

    def check_layer(self, requested: str | None) -> None:
        if requested is not None and not requested.endswith(".input"):
            raise Unprocessable("CAM works on the global pool's input; leave layer out")

    def channel_weights(
        self, model: Any, x: Any, target: Any, activation: torch.Tensor, grad: torch.Tensor, options: Any
    ) -> torch.Tensor:
        index = getattr(target, "index", None)
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        if index is None or not linears:
            raise Unprocessable("CAM needs a classifier with a global-average-pool + linear head")
        head = linears[-1]
        pooled = activation.mean(dim=(2, 3))
        with torch.no_grad():
            logits = model(x)
            expected = F.linear(pooled, head.weight, head.bias)
        if head.in_features != activation.shape[1] or not torch.allclose(
            expected, logits, rtol=1e-3, atol=1e-3
        ):
            raise Unprocessable("CAM needs a global-average-pool + linear head: use gradcam for this model")
        return head.weight[index].detach()


class ScoreCAM(WeightedCAM):
    """Wang et al. 2020: each channel, upsampled and normalised, masks the input; the scores
    of the masked inputs, softmaxed over channels, weight the channels. Forward passes only,
    run in batches."""

    name = "scorecam"

    def params(self, options: Options) -> dict[str, Any]:
        return {"batch_size": options.batch_size}

    def channel_weights(
        self,
        model: Any,
        x: torch.Tensor,
        target: Target,
        activation: torch.Tensor,
        grad: Any,
        options: Options,
    ) -> torch.Tensor:
        with torch.no_grad():
            upsampled = F.interpolate(activation, size=x.shape[-2:], mode="bilinear", align_corners=True)[0]
            flat = upsampled.flatten(1)
            low, high = flat.min(dim=1)[0], flat.max(dim=1)[0]
            masks = (upsampled - low[:, None, None]) / (high - low + 1e-8)[:, None, None]
            scores = []
            for start in range(0, len(masks), options.batch_size):
                batch = x * masks[start : start + options.batch_size, None]
                scores.append(target(model(batch)))
                options.progress.step(min(start + options.batch_size, len(masks)), len(masks))
            return torch.softmax(torch.cat(scores), dim=0)


class EigenCAM(CamExplainer):
    """Muhammad & Yeasin 2020: the activations' first principal component (class-agnostic)."""

    name = "eigencam"

    def layer_map(
        self, model: Any, x: Any, target: Any, activation: torch.Tensor, grad: Any, options: Any
    ) -> np.ndarray:
        a = activation[0].numpy()
        flat = a.reshape(a.shape[0], -1).transpose()
        flat = flat - flat.mean(axis=0)
        _, _, vt = np.linalg.svd(flat, full_matrices=True)
        component: np.ndarray = (flat @ vt[0, :]).reshape(a.shape[1:]).astype(np.float32)
        return component


class GuidedGradCAM(GradCAM):
    """Selvaraju et al. 2017: guided backprop times the (clipped, normalised, upsampled) Grad-CAM."""

    name = "guided_gradcam"
    bf16_keeps_map = False  # its guided backprop half does not (Pearson 0.97)

    def explain(
        self,
        model: Any,
        x: torch.Tensor,
        target: Target,
        layer: str | None,
        options: Options,
        recorded: Recorded | None = None,
    ) -> Attribution:
        cam = super().explain(model, x, target, layer, options, recorded)
        weights = torch.from_numpy(np.maximum(cam.raw, 0))[None, None]
        weights = F.interpolate(weights, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
        weights = weights / (weights.max() + 1e-7)
        grad, _ = guided_gradient(model, x, target)
        return Attribution((grad[0] * weights).sum(dim=0).numpy(), cam.score, layer=cam.layer)
