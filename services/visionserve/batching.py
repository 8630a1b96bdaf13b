"""Dynamic batching for one model: the next batch starts the moment the model is free.

A batch takes every item that is ready, up to the maximum. It waits (at most ``wait_s``)
only for items it knows are on their way, those still being decoded, so a lone request
never waits for a timer, and under load the batch grows with what arrived while the model
ran the previous one. (A fixed timer, as in ``@serve.batch``, either adds its delay to
every request at low load or closes batches before the decoder has caught up.)
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from typing import Generic, TypeVar

from visionserve.errors import Overloaded

logger = logging.getLogger("visionserve")

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class BatchStats:
    batches: int
    items: int


class Batcher(Generic[In, Out]):
    def __init__(
        self,
        run: Callable[[list[In]], Awaitable[Sequence[Out | BaseException]]],
        *,
        max_batch_size: int,
        wait_s: float,
        on_batch: Callable[[int, list[float]], None] | None = None,
    ) -> None:
        """``run`` gives each item's result, or the exception of an item that failed alone.
        ``on_batch(size, queue_waits_s)`` is told of each batch as it starts."""
        self._run = run
        self._max = max_batch_size
        self._wait_s = wait_s
        self._on_batch = on_batch
        self._queue: list[tuple[In, asyncio.Future[Out], float]] = []
        self._arrived: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._incoming = 0
        self._batches = 0
        self._items = 0

    @property
    def stats(self) -> BatchStats:
        return BatchStats(batches=self._batches, items=self._items)

    @contextmanager
    def incoming(self, count: int) -> Iterator[None]:
        """Announce COUNT items being prepared: a batch may wait for them (bounded by wait_s)."""
        self._incoming += count
        try:
            yield
        finally:
            self._incoming -= count
            if self._arrived is not None:
                self._arrived.set()  # a batch waiting for these must not wait in vain

    def enqueue(self, items: Sequence[In]) -> list[asyncio.Future[Out]]:
        """Queue ITEMS together (no batch can start between them); await the futures for results."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Out]] = [loop.create_future() for _ in items]
        now = loop.time()
        self._queue.extend((item, future, now) for item, future in zip(items, futures, strict=True))
        self._ensure_loop().set()
        return futures

    async def submit(self, item: In) -> Out:
        return await self.enqueue([item])[0]

    def _ensure_loop(self) -> asyncio.Event:
        if self._arrived is None or self._loop_task is None or self._loop_task.done():
            self._arrived = asyncio.Event()
            self._loop_task = asyncio.get_running_loop().create_task(self._batch_loop())
        return self._arrived

    async def _batch_loop(self) -> None:
        assert self._arrived is not None
        arrived = self._arrived
        loop = asyncio.get_running_loop()
        while True:
            await arrived.wait()
            arrived.clear()
            deadline = loop.time() + self._wait_s
            while len(self._queue) < self._max and self._incoming > 0 and loop.time() < deadline:
                try:
                    await asyncio.wait_for(arrived.wait(), deadline - loop.time())
                except asyncio.TimeoutError:
                    break
                arrived.clear()
            # Requests whose caller went away are dropped before they cost a model slot.
            self._queue = [entry for entry in self._queue if not entry[1].done()]
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            if self._queue:
                arrived.set()  # more than one batch was waiting: go round again at once
            if not batch:
                continue
            self._batches += 1
            self._items += len(batch)
            if self._on_batch is not None:
                started = loop.time()
                try:
                    self._on_batch(len(batch), [started - queued for _, _, queued in batch])
                except Exception:  # an observer's failure must not stop the batches
                    logger.exception("batch observer failed")
            try:
                results = list(await self._run([item for item, _, _ in batch]))
                if len(results) != len(batch):
                    raise RuntimeError(f"batch of {len(batch)} gave {len(results)} results")
            except Exception as exc:  # the batch's callers get the error; the loop carries on
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future, _), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):  # this item's own failure, not the batch's
                    future.set_exception(result)
                else:
                    future.set_result(result)


class DecodeBudget:
    """At most ``capacity`` images decoded ahead of the model, admitted a request at a time.

    Without a bound, a burst of large requests is decoded long before the model can take it:
    hundreds of preprocessed tensors sit in memory and the decoders take the model's cores
    (measured: 8 images per request at 64 connections fell from 162 to 66 images/s). A request
    takes all its places at once, in arrival order, so that two half-admitted requests can
    never wait on each other; one larger than the budget waits for it to be empty.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._free = capacity
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def hold(self, count: int) -> AsyncIterator[None]:
        places = min(count, self._capacity)
        if self._waiting or self._free < places:
            granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (places, granted)
            self._waiting.append(entry)
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._release(places)  # granted just as the caller went away
                else:
                    with suppress(ValueError):  # _grant may have dropped it already
                        self._waiting.remove(entry)
                    self._grant()  # the requests behind it may fit now
                raise
        else:
            self._free -= places
        try:
            yield
        finally:
            self._release(places)

    def _release(self, places: int) -> None:
        self._free += places
        self._grant()

    def _grant(self) -> None:
        while self._waiting:
            places, granted = self._waiting[0]
            if granted.done():  # its caller was cancelled and has not cleaned up yet
                self._waiting.popleft()
                continue
            if places > self._free:
                return
            self._waiting.popleft()
            self._free -= places
            granted.set_result(None)


class QueueBudget:
    """Refuses a request at once when the work already admitted would make it wait too long.

    The wait is estimated as the images admitted and not yet answered times the model's
    recent seconds per image (a moving average over batches, so it follows batch size and CPU
    contention). A refusal costs a comparison, not a decode; under any overload an admitted
    request waits at most about ``max_wait_s`` before its batch starts (as Triton's queue
    policy with a timeout, but decided on arrival instead of after the wait).
    """

    SMOOTHING = 0.2

    def __init__(self, model: str, max_wait_s: float | None) -> None:
        self._model = model
        self._max_wait_s = max_wait_s
        self._admitted = 0
        self._seconds_per_image: float | None = None

    @property
    def admitted(self) -> int:
        return self._admitted

    def estimated_wait_s(self) -> float:
        return self._admitted * (self._seconds_per_image or 0.0)

    def observe(self, images: int, seconds: float) -> None:
        """A batch of IMAGES took SECONDS in the model."""
        if images <= 0:
            return
        sample = seconds / images
        previous = self._seconds_per_image
        self._seconds_per_image = (
            sample if previous is None else previous + self.SMOOTHING * (sample - previous)
        )

    @contextmanager
    def admit(self, images: int) -> Iterator[None]:
        wait_s = self.estimated_wait_s()
        # Never refuse into an empty queue: a request larger than the budget still runs alone.
        if self._max_wait_s is not None and self._admitted > 0 and wait_s > self._max_wait_s:
            raise Overloaded(
                f"model {self._model} is over capacity: about {1000 * wait_s:.0f} ms of work is "
                f"queued (limit {1000 * self._max_wait_s:.0f} ms); retry shortly"
            )
        self._admitted += images
        try:
            yield
        finally:
            self._admitted -= images
