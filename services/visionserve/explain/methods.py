"""Explanation methods: each a small class on one base with a few named hooks.

``Explainer.explain`` returns an ``Attribution``: the raw signed map (at the model input's
resolution, or at the layer's for CAM methods, which say so) and what was used. Gradient
methods enable gradients themselves (the caller may hold ``inference_mode`` elsewhere), never
change the model's modules, and leave no hook behind.

    Explainer
    ├── Saliency, SmoothGrad, IntegratedGradients, GuidedBackprop (input gradients)
    ├── CamExplainer (a map at a layer): EigenCAM
    │   └── WeightedCAM (activations x channel weights): CAM, GradCAM, GradCAMPlusPlus, ScoreCAM
    │       └── GuidedGradCAM (Grad-CAM x guided backprop)
    ├── Occlusion (forward passes only: any runner, ONNX included)
    └── Rise (random masks, forward passes only: RISE, and D-RISE on detectors)

The base is in ``base.py``; input-gradient methods in ``gradients.py``, CAM methods in
``cams.py``, forward-only ones in ``perturbation.py``. ``METHODS`` names every method by the
name the API uses.
"""

from __future__ import annotations

from visionserve.explain.base import Attribution, Explainer, Forward
from visionserve.explain.cams import (
    CAM,
    CamExplainer,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    GuidedGradCAM,
    Recorded,
    ScoreCAM,
    WeightedCAM,
)
from visionserve.explain.gradients import GuidedBackprop, IntegratedGradients, Saliency, SmoothGrad
from visionserve.explain.options import Options
from visionserve.explain.perturbation import Occlusion, Rise

__all__ = [
    "CAM",
    "METHODS",
    "Attribution",
    "CamExplainer",
    "EigenCAM",
    "Explainer",
    "Forward",
    "GradCAM",
    "GradCAMPlusPlus",
    "GuidedBackprop",
    "GuidedGradCAM",
    "IntegratedGradients",
    "Occlusion",
    "Options",
    "Recorded",
    "Rise",
    "Saliency",
    "ScoreCAM",
    "SmoothGrad",
    "WeightedCAM",
]

METHODS: dict[str, Explainer] = {
    method.name: method
    for method in (
        Saliency(),
        SmoothGrad(),
        IntegratedGradients(),
        GuidedBackprop(),
        CAM(),
        GradCAM(),
        GradCAMPlusPlus(),
        ScoreCAM(),
        EigenCAM(),
        GuidedGradCAM(),
        Occlusion(),
        Rise(),
    )
}
