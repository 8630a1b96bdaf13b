"""The explainer replica's line of work: each request takes a ticket when it arrives and gives
it back when it ends, so that a waiting caller can be told how many are ahead of it."""

from __future__ import annotations

import itertools


class WorkQueue:
    """Tickets in arrival order; ``ahead(ticket)``: the unfinished ones taken before it (those
    running and those waiting for the replica's threads or their model)."""

    def __init__(self) -> None:
        self._numbers = itertools.count()
        self._open: set[int] = set()

    def take(self) -> int:
        ticket = next(self._numbers)
        self._open.add(ticket)
        return ticket

    def give_back(self, ticket: int) -> None:
        self._open.discard(ticket)

    def ahead(self, ticket: int) -> int:
        return sum(1 for other in self._open if other < ticket)
