"""Task pre/postprocessing on synthetic inputs, where every expected number is known."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import yaml

from visionserve.config import ModelConfig
from visionserve.errors import Unprocessable
from visionserve.imaging import DecodedImage
from visionserve.tasks import ClassificationTask, YoloxDetectionTask

from .conftest import LOCAL_CONFIG


def _model(index: int) -> ModelConfig:
    args: dict[str, Any] = yaml.safe_load(LOCAL_CONFIG.read_text())["applications"][0]["args"]
    return ModelConfig.model_validate(copy.deepcopy(args["models"][index]))


def _image(width: int, height: int) -> DecodedImage:
    return DecodedImage(pixels=np.full((height, width, 3), 200, dtype=np.uint8), format="PNG")


@pytest.fixture
def classifier() -> ClassificationTask:
    return ClassificationTask(_model(0), [f"class{i}" for i in range(1000)])


@pytest.fixture
def detector() -> YoloxDetectionTask:
    return YoloxDetectionTask(_model(1), ["person", "bicycle", "car"] + [f"c{i}" for i in range(77)])


def test_classification_input_is_a_normalised_center_crop(classifier: ClassificationTask) -> None:
    item = classifier.preprocess(_image(640, 480))
    assert item.tensor.shape == (3, 224, 224)
    assert item.tensor.dtype == np.float32
    assert np.allclose(item.tensor, (200 / 255 - 0.5) / 0.5, atol=1e-5)
    assert (item.width, item.height) == (640, 480)


def test_tiny_images_are_upscaled_to_the_input(classifier: ClassificationTask) -> None:
    assert classifier.preprocess(_image(3, 1)).tensor.shape == (3, 224, 224)


def test_top_k_is_sorted_and_bounded(classifier: ClassificationTask) -> None:
    logits = np.zeros(1000, dtype=np.float32)
    logits[[7, 3, 999]] = [3.0, 5.0, 4.0]
    params = classifier.parse_params({"top_k": 3})
    result = classifier.postprocess(logits, classifier.preprocess(_image(10, 10)), params)
    assert [c.index for c in result.classes] == [3, 999, 7]
    assert result.classes[0].label == "class3"
    expected = np.exp(5.0) / (997 + np.exp(3.0) + np.exp(4.0) + np.exp(5.0))
    assert result.classes[0].score == pytest.approx(expected, rel=1e-6)
    assert classifier.parse_params({}).top_k == 5
    with pytest.raises(Unprocessable, match="between 1 and 1000"):
        classifier.parse_params({"top_k": 1001})


def test_output_that_does_not_fit_the_labels_is_refused(classifier: ClassificationTask) -> None:
    with pytest.raises(ValueError, match="does not match 1000 labels"):
        classifier.check_output(np.zeros((1, 999), dtype=np.float32))


def test_letterbox_keeps_aspect_and_pads_bottom_right(detector: YoloxDetectionTask) -> None:
    item = detector.preprocess(_image(832, 416))
    assert item.scale == pytest.approx(0.5)
    bgr = item.tensor
    assert bgr.shape == (3, 416, 416)
    assert np.all(bgr[:, :208, :] == 200)  # the image, 0..255, top-left
    assert np.all(bgr[:, 208:, :] == 114)  # the pad


def _yolox_output(
    detector: YoloxDetectionTask, boxes: list[tuple[int, float, float, float, float, float]]
) -> np.ndarray:
    """Raw head output with the given (class, cx, cy, w, h, score) in 416px input space."""
    cells, strides = detector._grid
    output = np.zeros((len(cells), 85), dtype=np.float32)
    output[:, 4] = 0.0
    used = set()
    for cls, cx, cy, w, h, score in boxes:
        stride = 32
        anchor = int(
            np.nonzero(
                (strides[:, 0] == stride) & (cells[:, 0] == cx // stride) & (cells[:, 1] == cy // stride)
            )[0][0]
        )
        while anchor in used:
            anchor += 1
        used.add(anchor)
        output[anchor, 0] = cx / stride - cells[anchor, 0]
        output[anchor, 1] = cy / stride - cells[anchor, 1]
        output[anchor, 2] = np.log(w / stride)
        output[anchor, 3] = np.log(h / stride)
        output[anchor, 4] = 1.0
        output[anchor, 5 + cls] = score
    return output


def test_boxes_come_back_in_original_pixels_clipped(detector: YoloxDetectionTask) -> None:
    item = detector.preprocess(_image(832, 416))  # scale 0.5
    output = _yolox_output(detector, [(2, 100, 100, 40, 20, 0.9), (0, 200, 5, 100, 40, 0.8)])
    result = detector.postprocess(output, item, detector.parse_params({}))
    assert [d.label for d in result.detections] == ["car", "person"]
    assert result.detections[0].box == pytest.approx((160, 180, 240, 220), abs=1e-3)
    assert result.detections[1].box == pytest.approx((300, 0, 500, 50), abs=1e-3)  # y1 clipped
    assert (result.image.width, result.image.height) == (832, 416)


def test_nms_is_class_wise(detector: YoloxDetectionTask) -> None:
    item = detector.preprocess(_image(416, 416))
    output = _yolox_output(
        detector,
        [(2, 100, 100, 60, 60, 0.9), (2, 104, 100, 60, 60, 0.7), (1, 102, 100, 60, 60, 0.6)],
    )
    result = detector.postprocess(output, item, detector.parse_params({"score_threshold": 0.5}))
    assert [(d.label, round(d.score, 2)) for d in result.detections] == [("car", 0.9), ("bicycle", 0.6)]
    loose = detector.postprocess(output, item, detector.parse_params({"iou_threshold": 0.95}))
    assert len(loose.detections) == 3
    capped = detector.postprocess(
        output, item, detector.parse_params({"max_detections": 1, "iou_threshold": 0.95})
    )
    assert len(capped.detections) == 1
    none = detector.postprocess(output, item, detector.parse_params({"score_threshold": 0.95}))
    assert none.detections == []


def test_detection_params_are_bounded(detector: YoloxDetectionTask) -> None:
    with pytest.raises(Unprocessable, match="score_threshold"):
        detector.parse_params({"score_threshold": 1.5})
    defaults = detector.parse_params({})
    assert (defaults.score_threshold, defaults.iou_threshold, defaults.max_detections) == (0.3, 0.45, 100)


def _segmenter(head: str, labels: list[str]) -> Any:
    from visionserve.tasks import SemanticSegmentationTask

    config = _model(0).model_dump()
    config.update(
        task="semantic_segmentation",
        source={"kind": "onnx", "head": head, "weights": config["source"]["weights"], "labels": labels},
        runtime={"backend": "onnxruntime"},
        preprocess={"input_size": 8},
    )
    return SemanticSegmentationTask(ModelConfig.model_validate(config), labels)


def test_semantic_masks_follow_the_upsampled_probabilities() -> None:
    from visionserve.tasks import Prepared
    from visionserve.tasks.masks import decode_rle

    task = _segmenter("mask_sigmoid", ["background", "person"])
    foreground = np.zeros((1, 4, 4), dtype=np.float32)
    foreground[0, :, 2:] = 1.0  # right half
    item = Prepared(np.zeros((3, 4, 4), np.float32), width=8, height=6, scale=1.0)
    result = task.postprocess(foreground, item, task.parse_params({"include_label_map": True}))
    shares = {c.label: c.pixel_share for c in result.classes}
    assert shares == {"background": 0.5, "person": 0.5}
    person = next(c for c in result.classes if c.label == "person")
    assert person.mask is not None
    mask = decode_rle(person.mask)
    assert mask.shape == (6, 8)
    assert mask[:, 4:].all()
    assert not mask[:, :4].any()
    only = task.postprocess(
        foreground, item, task.parse_params({"classes": ["person"], "include_masks": False})
    )
    assert [(c.label, c.mask) for c in only.classes] == [("person", None)]
    with pytest.raises(Unprocessable, match="unknown class 'cat'"):
        task.parse_params({"classes": ["cat"]})


def test_logits_map_uses_a_softmax_over_classes() -> None:
    from visionserve.tasks import Prepared

    task = _segmenter("logits_map", ["a", "b", "c"])
    logits = np.zeros((3, 2, 2), dtype=np.float32)
    logits[2] = 5.0
    item = Prepared(np.zeros((3, 2, 2), np.float32), width=2, height=2, scale=1.0)
    result = task.postprocess(logits, item, task.parse_params({}))
    assert [c.label for c in result.classes] == ["c"]
    assert result.classes[0].score == pytest.approx(np.exp(5) / (2 + np.exp(5)), rel=1e-5)
    with pytest.raises(ValueError, match="not \\(N, 3, h, w\\)"):
        task.check_output({"out": np.zeros((1, 2, 4, 4), np.float32)})


def test_semantic_maps_made_in_bands_equal_one_full_size_upsample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Band by band (small bands here, to cross many edges) gives the full-size argmax, scores
    and shares; labels differ only where two classes tie to float rounding."""
    from visionserve.tasks import Prepared, masks
    from visionserve.tasks.masks import decode_rle, upsample

    monkeypatch.setattr(masks, "BAND_PIXELS", 5000)
    task = _segmenter("mask_sigmoid", ["background", "person"])
    rng = np.random.default_rng(3)
    foreground = rng.random((1, 24, 32), dtype=np.float32)
    item = Prepared(np.zeros((3, 24, 32), np.float32), width=301, height=177, scale=1.0)
    result = task.postprocess(foreground, item, task.parse_params({}))
    person_probability = upsample(foreground, 177, 301)[0].numpy()
    expected = person_probability > 0.5
    person = next(c for c in result.classes if c.label == "person")
    assert person.mask is not None
    got = decode_rle(person.mask)
    differ = got != expected
    assert np.all(np.abs(person_probability[differ] - 0.5) < 1e-4)
    assert person.pixel_share == pytest.approx(expected.mean(), abs=1e-3)
    assert person.score == pytest.approx(person_probability[expected].mean(), abs=1e-4)
