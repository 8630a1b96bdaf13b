"""The asyncio client: every method of the API, one concern per module."""

from __future__ import annotations

from .audit import AsyncAudit
from .explanations import AsyncExplanations
from .models import AsyncModelsAndHealth
from .predictions import AsyncPredictions
from .understanding import AsyncUnderstanding


class AsyncVisionServe(
    AsyncPredictions,
    AsyncExplanations,
    AsyncUnderstanding,
    AsyncAudit,
    AsyncModelsAndHealth,
):
    """Asyncio client. Use as a context manager (``async with``), or call ``await close()``."""

    async def __aenter__(self) -> AsyncVisionServe:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
