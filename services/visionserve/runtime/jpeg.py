"""JPEG decoding with torchvision on the model's device: nvJPEG on a GPU, libjpeg-turbo on CPU.

On a GPU server the CPU decoder, not the model, is what runs out first (a GPU model takes
thousands of images a second; a CPU core decodes a few hundred photos). Only baseline RGB and
grayscale JPEGs go this way; every other image, and every check (format, pixel limit, EXIF
orientation), stays with visionserve.imaging, so answers do not depend on the decoder.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_jpeg

from visionserve.errors import InvalidImage
from visionserve.imaging import DecodedImage, decode, orient, probe_plain_jpeg


def decode_on_device(data: bytes, *, max_pixels: int, device: str) -> DecodedImage:
    header = probe_plain_jpeg(data, max_pixels=max_pixels)
    if header is None:
        return decode(data, max_pixels=max_pixels)
    try:
        encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        tensor = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device)
    except RuntimeError as exc:  # corrupt or truncated data: the caller's bytes are the cause
        raise InvalidImage(f"the JPEG image could not be decoded: {exc}") from None
    pixels = tensor.permute(1, 2, 0).cpu().numpy()
    if pixels.shape[:2] != (header.height, header.width):
        raise InvalidImage(f"the JPEG decoded to {pixels.shape[1]}x{pixels.shape[0]}, not its header's size")
    return DecodedImage(pixels=np.ascontiguousarray(orient(pixels, header.orientation)), format="JPEG")
