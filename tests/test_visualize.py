"""visionserve_client.visualize on its own: RLE and float maps back to numpy, drawings."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco

from visionserve_client.types import (
    RLE,
    Detection,
    DetectionResult,
    FloatMap,
    ImageSize,
    MethodExplanation,
    SegmentClass,
    SemanticSegmentation,
)
from visionserve_client.visualize import (
    draw_detections,
    draw_segmentation,
    floatmap_to_numpy,
    mask_to_numpy,
    overlay_heatmap,
)


def _rle(mask: np.ndarray) -> RLE:
    encoded = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
    return RLE(size=tuple(encoded["size"]), counts=encoded["counts"].decode())  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(6))
def test_masks_decode_as_pycocotools_encoded_them(seed: int) -> None:
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(1, 60)), int(rng.integers(1, 60))
    mask = rng.random((height, width)) < [0.02, 0.5, 0.98, 0.0, 1.0, 0.3][seed]
    np.testing.assert_array_equal(mask_to_numpy(_rle(mask)), mask)


def test_a_large_blob_mask_round_trips() -> None:
    mask = np.zeros((480, 640), dtype=bool)
    mask[100:300, 200:500] = True  # long runs exercise the multi-chunk and delta encoding
    np.testing.assert_array_equal(mask_to_numpy(_rle(mask)), mask)


def test_float_maps_decode_with_their_scale() -> None:
    values = np.array([[0.0, -0.5], [1.0, 0.25]], dtype=np.float16)
    data = base64.b64encode(values.astype("<f2").tobytes()).decode()
    decoded = floatmap_to_numpy(FloatMap(shape=(2, 2), scale=2.0, data=data))
    np.testing.assert_allclose(decoded, values.astype(np.float32) * 2)


def test_boxes_are_drawn_inside_the_box_only() -> None:
    image = Image.new("RGB", (100, 80), (0, 0, 0))
    result = DetectionResult(
        image=ImageSize(width=100, height=80),
        detections=[Detection(box=(20, 30, 70, 60), label="dog", class_index=16, score=0.9)],
    )
    drawn = np.asarray(draw_detections(image, result))
    assert drawn[45, 20].any()  # on the left edge
    assert not drawn[75, 90].any()  # far from the box
    assert not np.asarray(image).any()  # the input is left alone


def test_segmentation_tints_the_masked_pixels() -> None:
    mask = np.zeros((40, 50), dtype=bool)
    mask[10:20, 5:15] = True
    result = SemanticSegmentation(
        image=ImageSize(width=50, height=40),
        classes=[SegmentClass(index=1, label="person", pixel_share=0.05, score=0.9, mask=_rle(mask))],
    )
    drawn = np.asarray(draw_segmentation(Image.new("RGB", (50, 40)), result))
    assert drawn[mask].any(axis=1).all()
    assert not drawn[~mask].any()


def test_heatmap_overlay_keeps_the_image_size() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.tile(np.arange(16, dtype=np.uint8) * 16, (8, 1))).save(buffer, "PNG")
    explanation = MethodExplanation(
        method="gradcam",
        raw=FloatMap(shape=(8, 16), scale=1.0, data=base64.b64encode(bytes(256)).decode()),
        signed=False,
        normalized_png=base64.b64encode(buffer.getvalue()).decode(),
        seconds=0.1,
    )
    blended = overlay_heatmap(Image.new("RGB", (32, 16), (128, 128, 128)), explanation)
    assert blended.size == (32, 16)
    pixels = np.asarray(blended).astype(int)
    assert pixels[8, 0, 2] > pixels[8, 0, 0]  # low: blue
    assert pixels[8, 31, 0] > pixels[8, 31, 2]  # high: red


def test_one_colour_convention_and_what_was_not_seen_is_never_a_scale_colour() -> None:
    from visionserve_client import colours

    photo = np.full((20, 40, 3), 200, dtype=np.uint8)
    signed = np.zeros((20, 40), dtype=np.float32)
    signed[:, :10], signed[:, 30:] = -1.0, 1.0
    drawn = colours.blend(photo, signed, signed=True, opacity=1.0).astype(int)
    assert (drawn[:, 15] == 200).all()  # no evidence: the photo, not a veil of a colour
    assert tuple(drawn[0, 0]) == colours.AGAINST
    assert tuple(drawn[0, 39]) == colours.FOR
    ramp = colours.rgba(np.linspace(0, 1, 5), signed=False)
    assert [tuple(c[:3]) for c in ramp] == list(colours.SEQUENTIAL)
    # Only columns 10..30 were seen: outside, the photo dimmed or the hatching, whatever the map.
    unsigned = np.ones((20, 40), dtype=np.float32)
    drawn = colours.blend(photo, unsigned, signed=False, opacity=0.5, seen=(10, 0, 30, 20)).astype(int)
    outside = np.concatenate([drawn[:, :10], drawn[:, 30:]], axis=1).reshape(-1, 3)
    dimmed, hatched = round(200 * colours.NOT_SEEN_DIM), colours.HATCH_GREY
    assert {tuple(p) for p in outside} == {(dimmed,) * 3, (hatched,) * 3}
    assert (drawn[:, 10:30] == np.round(200 * 0.5 + np.array(colours.SEQUENTIAL[-1]) * 0.5)).all()


def test_overlays_hatch_what_the_model_did_not_see() -> None:
    from visionserve_client import colours
    from visionserve_client.types import InputGeometry

    buffer = io.BytesIO()
    Image.fromarray(np.full((10, 20), 128, dtype=np.uint8)).save(buffer, "PNG")
    explanation = MethodExplanation(
        method="integrated_gradients",
        raw=FloatMap(shape=(10, 20), scale=1.0, data=base64.b64encode(bytes(400)).decode()),
        signed=True,
        normalized_png=base64.b64encode(buffer.getvalue()).decode(),
        seconds=0.1,
    )
    geometry = InputGeometry(input_size=(10, 10), input_box=(0, 0, 10, 10), image_box=(5, 0, 15, 10))
    photo = Image.new("RGB", (40, 20), (100, 150, 200))
    drawn = np.asarray(overlay_heatmap(photo, explanation, geometry)).astype(int)
    assert (drawn[:, 10:30] == (100, 150, 200)).all()  # seen, signed 0: the photo itself
    left = drawn[:, :10].reshape(-1, 3)
    dimmed = tuple(round(v * colours.NOT_SEEN_DIM) for v in (100, 150, 200))
    assert {tuple(p) for p in left} == {dimmed, (colours.HATCH_GREY,) * 3}
