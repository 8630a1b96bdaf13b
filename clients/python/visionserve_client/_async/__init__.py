"""The asyncio client. Of the twins, ``_async/`` is written by hand and ``_sync/`` is generated
from it by ``scripts/make_sync.py``."""

from .client import AsyncVisionServe

__all__ = ["AsyncVisionServe"]
