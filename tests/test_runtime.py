"""Runtime options on their own: torch options give eager's answer; the torchvision JPEG decoder
sees what Pillow sees."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from tests.helpers import image_bytes, with_exif_orientation
from visionserve.config import RuntimeConfig
from visionserve.errors import ImageTooLarge, InvalidImage
from visionserve.imaging import decode, orient
from visionserve.runtime.jpeg import decode_on_device
from visionserve.runtime.torch_runner import TorchRunner


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, groups=8, padding=1),  # depthwise, as in EfficientNet
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
    )


@pytest.mark.parametrize("options", [{"channels_last": True}, {"compile": True}])
def test_torch_options_match_eager(options: dict[str, bool]) -> None:
    batches = [
        np.random.default_rng(i).standard_normal((n, 3, 16, 16)).astype(np.float32)
        for i, n in [(0, 1), (1, 3)]
    ]
    eager = TorchRunner(_net(), threads=1)
    tuned = TorchRunner(_net(), threads=1, **options)
    for batch in batches:  # two batch sizes: a compiled graph must not be tied to the first
        np.testing.assert_allclose(tuned.run(batch), eager.run(batch), atol=1e-5)


def test_compile_is_refused_for_onnxruntime() -> None:
    with pytest.raises(ValueError, match=r"runtime\.compile applies to backend torch only"):
        RuntimeConfig(backend="onnxruntime", compile=True)


def test_tensorrt_needs_onnxruntime_on_cuda() -> None:
    with pytest.raises(ValueError, match=r"runtime\.tensorrt applies"):
        RuntimeConfig(backend="onnxruntime", device="cpu", tensorrt=True)
    assert RuntimeConfig(backend="onnxruntime", device="cuda", tensorrt=True).tensorrt


@pytest.mark.parametrize("name", ["dog_bike_car.jpg", "grace_hopper.jpg", "chelsea.png"])
def test_torchvision_decoder_sees_what_pillow_sees(name: str) -> None:
    data = image_bytes(name)
    ours = decode_on_device(data, max_pixels=10**8, device="cpu").pixels
    reference = decode(data, max_pixels=10**8).pixels
    assert ours.shape == reference.shape
    # Both are libjpeg-turbo; different IDCT settings may move a value by a few levels.
    assert np.abs(ours.astype(int) - reference.astype(int)).mean() < 1.0


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_is_applied_like_pillow(orientation: int) -> None:
    stored = np.random.default_rng(orientation).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    expected = np.asarray(ImageOps.exif_transpose(_with_exif(Image.fromarray(stored), exif)))
    np.testing.assert_array_equal(orient(stored, orientation), expected)


def test_torchvision_decoder_keeps_the_checks() -> None:
    with pytest.raises(ImageTooLarge):
        decode_on_device(image_bytes("dog_bike_car.jpg"), max_pixels=1000, device="cpu")
    truncated = image_bytes("dog_bike_car.jpg")[:5000]
    with pytest.raises(InvalidImage):
        decode_on_device(truncated, max_pixels=10**8, device="cpu")
    upright = Image.open(io.BytesIO(image_bytes("grace_hopper.jpg"))).convert("RGB")
    rotated = with_exif_orientation(upright, 6)
    assert decode_on_device(rotated, max_pixels=10**8, device="cpu").pixels.shape == (
        upright.height,
        upright.width,
        3,
    )


def _with_exif(image: Image.Image, exif: Image.Exif) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", exif=exif.tobytes())
    return Image.open(io.BytesIO(buffer.getvalue()))
