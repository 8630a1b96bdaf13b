"""The standard ImageNet preprocessing of the peer servers, with Pillow and numpy only.

Reproduces torchvision.transforms' arithmetic on PIL images, step for step:
``Compose([Resize(256), CenterCrop(224), ToTensor(), Normalize(mean, std)])``.

- Resize(256): the shorter side becomes 256, the longer ``int(256 * long / short)`` (truncated,
  as torchvision computes it); an image already that size is left alone; otherwise Pillow's
  bilinear resize, which always antialiases (torchvision's ``antialias`` has no effect on PIL
  images).
- CenterCrop(224): offsets ``round((side - 224) / 2)`` (Python's round, half to even);
  after Resize(256) both sides are at least 256, so torchvision's padding never applies.
- ToTensor: HWC uint8 -> CHW float32, divided by 255 in float32.
- Normalize: ``(x - mean) / std`` per channel, in float32.

So the peers feed the model what a torchvision pipeline would, without installing torch.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

RESIZE = 256
CROP = 224
MEAN = (0.5, 0.5, 0.5)  # deploy/serve/local.yaml's classifier
STD = (0.5, 0.5, 0.5)


def decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def resize(image: Image.Image, size: int = RESIZE) -> Image.Image:
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    new_width, new_height = (new_short, new_long) if width <= height else (new_long, new_short)
    if (new_width, new_height) == (width, height):
        return image
    return image.resize((new_width, new_height), Image.Resampling.BILINEAR)


def center_crop(image: Image.Image, size: int = CROP) -> Image.Image:
    width, height = image.size
    top = round((height - size) / 2.0)  # torchvision: int(round(...)), the same integer
    left = round((width - size) / 2.0)
    return image.crop((left, top, left + size, top + size))


def to_tensor(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.uint8)  # H, W, 3
    return pixels.transpose(2, 0, 1).astype(np.float32) / np.float32(255)


def normalize(tensor: np.ndarray, mean: tuple[float, ...] = MEAN, std: tuple[float, ...] = STD) -> np.ndarray:
    m = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
    return (tensor - m) / s


def preprocess(image: Image.Image) -> np.ndarray:
    """One RGB image -> a (3, 224, 224) float32 array."""
    return normalize(to_tensor(center_crop(resize(image))))
