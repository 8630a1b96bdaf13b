"""Crop planning and mask pasting of detect_then_segment, on synthetic results."""

from __future__ import annotations

import numpy as np

from visionserve.pipelines.detect_then_segment import assemble, cut, plan_crops
from visionserve.tasks.masks import decode_rle, encode_rle
from visionserve_client.types import Detection, ImageSize, SegmentClass, SemanticSegmentation

SIZE = ImageSize(width=100, height=80)


def _detection(label: str, box: tuple[float, float, float, float]) -> Detection:
    return Detection(box=box, label=label, class_index=0, score=0.9)


def test_crops_are_padded_clipped_and_filtered() -> None:
    detections = [
        _detection("person", (10, 10, 30, 50)),
        _detection("dog", (0, 0, 5, 5)),
        _detection("person", (90, 70, 100, 80)),
    ]
    crops = plan_crops(detections, ["person"], SIZE, padding=0.5, limit=10)
    assert [(c.left, c.top, c.right, c.bottom) for c in crops] == [(0, 0, 40, 70), (85, 65, 100, 80)]
    assert plan_crops(detections, ["person"], SIZE, padding=0.5, limit=1)[0].detection.box == (10, 10, 30, 50)
    assert cut(np.zeros((80, 100, 3), np.uint8), crops[0]).shape == (70, 40, 3)


def test_masks_are_pasted_back_and_cut_to_the_box() -> None:
    crop = plan_crops([_detection("person", (10, 10, 30, 50))], ["person"], SIZE, padding=0.5, limit=1)[0]
    whole_crop = np.ones((crop.bottom - crop.top, crop.right - crop.left), dtype=bool)
    segmented = SemanticSegmentation(
        image=ImageSize(width=whole_crop.shape[1], height=whole_crop.shape[0]),
        classes=[
            SegmentClass(index=1, label="person", pixel_share=1.0, score=0.9, mask=encode_rle(whole_crop))
        ],
    )
    result = assemble(SIZE, [crop], [segmented], "person", include_masks=True)
    mask = decode_rle(result.instances[0].mask)  # type: ignore[arg-type]
    expected = np.zeros((80, 100), dtype=bool)
    expected[10:50, 10:30] = True
    assert np.array_equal(mask, expected)
    empty = SemanticSegmentation(image=segmented.image, classes=[])
    nothing = assemble(SIZE, [crop], [empty], "person", include_masks=True)
    assert not decode_rle(nothing.instances[0].mask).any()  # type: ignore[arg-type]
