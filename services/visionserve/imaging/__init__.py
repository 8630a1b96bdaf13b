"""Image bytes to validated pixels. No Ray, no torch."""

from visionserve.imaging.decode import FORMATS, DecodedImage, ImageHeader, decode, probe

__all__ = ["FORMATS", "DecodedImage", "ImageHeader", "decode", "probe"]
