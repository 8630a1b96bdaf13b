# generated from visionserve_client/_async/client.py by scripts/make_sync.py: do not edit
"""The blocking client: every method of the API, one concern per module."""

from __future__ import annotations

from .audit import Audit
from .explanations import Explanations
from .models import ModelsAndHealth
from .predictions import Predictions
from .understanding import Understanding


class VisionServe(
    Predictions,
    Explanations,
    Understanding,
    Audit,
    ModelsAndHealth,
):
    """Blocking client. Use as a context manager (``with``), or call ``close()``."""

    def __enter__(self) -> VisionServe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
