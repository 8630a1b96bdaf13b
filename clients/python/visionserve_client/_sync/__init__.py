# generated from visionserve_client/_async/__init__.py by scripts/make_sync.py: do not edit
"""The blocking client. Of the twins, ``_async/`` is written by hand and ``_sync/`` is generated
from it by ``scripts/make_sync.py``."""

from .client import VisionServe

__all__ = ["VisionServe"]
