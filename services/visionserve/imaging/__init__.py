"""Image bytes to validated pixels. No Ray, no torch."""

from visionserve.imaging.decode import (
    FORMATS,
    DecodedImage,
    ImageHeader,
    JpegHeader,
    decode,
    displayed_pixels,
    orient,
    probe,
    probe_plain_jpeg,
)

__all__ = [
    "FORMATS",
    "DecodedImage",
    "ImageHeader",
    "JpegHeader",
    "decode",
    "displayed_pixels",
    "orient",
    "probe",
    "probe_plain_jpeg",
]
