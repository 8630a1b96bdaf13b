"""The explainer replica's line of work: at most ``slots`` explanations or views at once, one
at a time per model (the layer hooks are per module: concurrent work on one model would see
each other's activations), first come first served, and how many are ahead of a request that
waits. Pure threading: no torch, no Ray."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from visionserve.explain.progress import NO_PROGRESS, Progress

RECHECK_S = 0.5
"""How often a waiting request looks whether its caller went away."""

Entry = tuple[int, str]
"""(ticket, model)"""


class WorkLine:
    def __init__(self, slots: int = 1) -> None:
        self._slots = slots
        self._guard = threading.Condition()
        self._tickets = itertools.count()
        self._waiting: list[Entry] = []
        self._running: list[Entry] = []

    def _free(self, model: str) -> bool:
        return len(self._running) < self._slots and all(m != model for _, m in self._running)

    def _may_start(self, entry: Entry) -> bool:
        """Its slot and its model are free, and nobody before it could start instead."""
        for earlier in self._waiting:
            if earlier == entry:
                return self._free(entry[1])
            if self._free(earlier[1]):
                return False
        return False

    @contextmanager
    def turn(self, model: str, progress: Progress = NO_PROGRESS) -> Iterator[None]:
        """Wait for this request's turn on ``model``, telling ``progress`` how many are ahead
        each time that changes (a cancelled caller leaves the line with ``Cancelled``)."""
        with self._guard:
            entry = (next(self._tickets), model)
            self._waiting.append(entry)
            told = 0
            try:
                while not self._may_start(entry):
                    ahead = len(self._running) + self._waiting.index(entry)
                    if ahead != told:
                        progress.waiting(ahead)
                        told = ahead
                    self._guard.wait(RECHECK_S)
                    progress.waiting(ahead, quiet=True)  # raises Cancelled once the caller left
            except BaseException:
                self._waiting.remove(entry)
                self._guard.notify_all()
                raise
            self._waiting.remove(entry)
            self._running.append(entry)
        try:
            yield
        finally:
            with self._guard:
                self._running.remove(entry)
                self._guard.notify_all()
