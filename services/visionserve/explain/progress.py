"""How far a long explanation has come, and a way to stop it.

Batched methods (SmoothGrad, Integrated Gradients, Score-CAM, occlusion, RISE) report after
each batch; a caller that went away (a closed stream, a cancelled view) sets ``cancel`` and the
next report stops the work with ``Cancelled``, so an abandoned request frees its replica
within one batch. Torch-free: the explanation thread reports, the serving loop listens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from visionserve.errors import Cancelled

QUEUE_STAGE = "queue"
"""The stage of a request waiting for the replica, before its first method."""
Listener = Callable[[str, int, int], None]
"""Called with (stage, done, total) from the thread doing the work."""


class Progress:
    def __init__(self, listener: Listener | None = None) -> None:
        self._listener = listener
        self._cancelled = threading.Event()
        self.stage = ""

    def begin(self, stage: str, total: int = 1) -> None:
        """A new stage (an explanation method, a view's phase) starts with ``total`` steps."""
        self.stage = stage
        self.step(0, total)

    def waiting(self, ahead: int, quiet: bool = False) -> None:
        """The request waits for its model behind ``ahead`` others (``quiet``: only see whether
        the caller went away)."""
        if self._cancelled.is_set():
            raise Cancelled("cancelled while waiting for the model")
        if self._listener is not None and not quiet:
            self._listener(QUEUE_STAGE, ahead, 0)  # for the queue, "done" carries the count ahead

    def step(self, done: int, total: int) -> None:
        if self._cancelled.is_set():
            raise Cancelled(f"cancelled during {self.stage or 'the request'}")
        if self._listener is not None:
            self._listener(self.stage, done, total)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()


NO_PROGRESS = Progress()
"""For callers that neither listen nor cancel."""


class ProgressEvents:
    """What a progress stream sends: every stage's start and end, and its batches in between
    at most every ``interval_s`` (a fast method reports hundreds of batches a second)."""

    def __init__(self, stages: Sequence[str], interval_s: float = 0.1) -> None:
        self._stages = list(dict.fromkeys(stages))
        self._interval_s = interval_s
        self._sent_at = float("-inf")

    def worth_sending(self, heard: Iterable[tuple[str, int, int]], now: float) -> list[dict[str, Any]]:
        """The events to send of those heard since the last call, at loop time ``now``."""
        heard = list(heard)
        events = []
        for position, (stage, done, total) in enumerate(heard):
            if stage == QUEUE_STAGE:
                events.append(self.queued(done))
                continue
            boundary = done == 0 or done >= total
            latest = position == len(heard) - 1
            if boundary or (latest and now - self._sent_at >= self._interval_s):
                events.append(self.event(stage, done, total))
                self._sent_at = now
        return events

    def queued(self, ahead: int) -> dict[str, Any]:
        """The request waits: ``ahead`` requests of this replica came before it."""
        return {**self.event(QUEUE_STAGE, 0, 1), "ahead": ahead}

    def event(self, stage: str, done: int, total: int) -> dict[str, Any]:
        index = self._stages.index(stage) if stage in self._stages else None
        return {
            "event": "progress",
            "stage": stage,
            "stage_index": index,
            "stages": len(self._stages),
            "done": done,
            "total": total,
        }
