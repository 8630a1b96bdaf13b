"""Sync and async clients for the VisionServe HTTP API.

``VisionServe`` and ``AsyncVisionServe`` are twins: the same methods, the same keyword-only
options, the same typed results (each request is built once, in ``_calls``). Images go over
the wire compressed, as multipart files.

``AsyncVisionServe`` (``_async/``, one module per concern) is the source; ``VisionServe``
(``_sync/``) is generated from it by ``python clients/python/scripts/make_sync.py``, and the
tests fail when the generated files are stale.
"""

from __future__ import annotations

from visionserve_client._async import AsyncVisionServe
from visionserve_client._calls import ImageInput
from visionserve_client._sync import VisionServe
from visionserve_client._wire import DEFAULT_RETRIES, DEFAULT_TIMEOUT, ProgressCallback, streamed_result
from visionserve_client.retries import NO_RETRIES

# Where the stream reader lived before the twins shared it; callers may still import it here.
_streamed_result = streamed_result

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "NO_RETRIES",
    "AsyncVisionServe",
    "ImageInput",
    "ProgressCallback",
    "VisionServe",
]
