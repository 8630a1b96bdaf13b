"""visionserve.explain.cost: forward passes per request, from the request's options alone."""

from __future__ import annotations

from visionserve.explain.cost import forward_passes


def test_passes_follow_each_method_s_options() -> None:
    assert forward_passes(["gradcam"], {}, 224) == 2
    assert forward_passes(["gradcam", "gradcam"], {}, 224) == 2  # a method asked twice runs once
    assert forward_passes(["integrated_gradients"], {"steps": 32}, 224) == 2 * 33
    assert forward_passes(["smoothgrad"], {"samples": 16}, 224) == 32
    # 32 px patches every 16 px on 224: 13 x 13 windows, plus the unperturbed pass
    assert forward_passes(["occlusion"], {}, 224) == 13 * 13 + 1
    assert forward_passes(["occlusion"], {"patch": 32, "stride": 1}, 224) == 193 * 193 + 1
    assert forward_passes(["rise"], {"masks": 1000}, 224) == 1001
    assert forward_passes(["saliency", "rise"], {"masks": 8}, 224) == 2 + 9
