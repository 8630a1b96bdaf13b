"""The dynamic batcher on its own: no Ray, a fake model that records its batches."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from visionserve.batching import Batcher, DecodeBudget


class FakeModel:
    def __init__(self, seconds: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.seconds = seconds
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await self.release.wait()
        await asyncio.sleep(self.seconds)
        if any(i < 0 for i in items):
            raise ValueError("negative")
        return [i * 10 for i in items]


def test_a_lone_item_does_not_wait_for_the_timer() -> None:
    async def main() -> float:
        batcher = Batcher(FakeModel(), max_batch_size=8, wait_s=5.0)
        started = time.perf_counter()
        assert await batcher.submit(3) == 30
        return time.perf_counter() - started

    assert asyncio.run(main()) < 1.0


def test_items_that_arrive_while_the_model_runs_form_the_next_batch() -> None:
    async def main() -> FakeModel:
        model = FakeModel()
        batcher = Batcher(model, max_batch_size=4, wait_s=0.0)
        model.release.clear()
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.01)  # batch [0] is running and blocked
        rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 7)]
        await asyncio.sleep(0.01)
        model.release.set()
        assert await asyncio.gather(first, *rest) == [i * 10 for i in range(7)]
        assert batcher.stats.batches == 3
        assert batcher.stats.items == 7
        return model

    model = asyncio.run(main())
    assert model.batches == [[0], [1, 2, 3, 4], [5, 6]]  # in order, never above the maximum


def test_a_batch_waits_for_announced_items_but_not_beyond_the_wait() -> None:
    async def main() -> tuple[list[list[int]], float]:
        model = FakeModel()
        batcher = Batcher(model, max_batch_size=8, wait_s=0.5)

        async def late(item: int, delay: float) -> int:
            with batcher.incoming(1):
                await asyncio.sleep(delay)
                future = batcher.enqueue([item])[0]
            return await future

        started = time.perf_counter()
        results = await asyncio.gather(batcher.submit(1), late(2, 0.05), late(3, 0.1))
        assert results == [10, 20, 30]
        joined = model.batches[:]
        # An announced item that never comes holds a batch for wait_s at most.
        with batcher.incoming(1):
            again = time.perf_counter()
            assert await batcher.submit(4) == 40
            waited = time.perf_counter() - again
        assert started < again
        return joined, waited

    joined, waited = asyncio.run(main())
    assert joined == [[1, 2, 3]]
    assert 0.4 < waited < 2.0


def test_a_failing_batch_fails_its_callers_only() -> None:
    async def main() -> None:
        model = FakeModel()
        batcher = Batcher(model, max_batch_size=2, wait_s=0.0)
        model.release.clear()
        blocked = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.01)
        bad = batcher.enqueue([-1, 2])
        good = batcher.enqueue([3])
        model.release.set()
        assert await blocked == 10
        for future in bad:
            with pytest.raises(ValueError, match="negative"):
                await future
        assert await good[0] == 30

    asyncio.run(main())


def test_cancelled_callers_do_not_take_a_place_in_a_batch() -> None:
    async def main() -> FakeModel:
        model = FakeModel()
        batcher = Batcher(model, max_batch_size=8, wait_s=0.0)
        model.release.clear()
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.01)
        gone = asyncio.ensure_future(batcher.submit(2))
        kept = asyncio.ensure_future(batcher.submit(3))
        await asyncio.sleep(0.01)
        gone.cancel()
        model.release.set()
        assert await first == 10
        assert await kept == 30
        return model

    assert asyncio.run(main()).batches == [[1], [3]]


def test_the_decode_budget_admits_whole_requests_in_arrival_order() -> None:
    async def main() -> list[str]:
        budget = DecodeBudget(4)
        order: list[str] = []
        release: dict[str, asyncio.Event] = {}

        async def request(name: str, images: int) -> None:
            release[name] = asyncio.Event()
            async with budget.hold(images):
                order.append(name)
                await release[name].wait()

        a = asyncio.ensure_future(request("a", 3))
        await asyncio.sleep(0)
        b = asyncio.ensure_future(request("b", 2))  # does not fit beside a: waits
        c = asyncio.ensure_future(request("c", 1))  # would fit, but must not overtake b
        await asyncio.sleep(0.01)
        assert order == ["a"]
        release["a"].set()
        await asyncio.sleep(0.01)
        assert order == ["a", "b", "c"]
        big = asyncio.ensure_future(request("big", 9))  # larger than the budget: waits for it empty
        await asyncio.sleep(0.01)
        assert order == ["a", "b", "c"]
        release["b"].set()
        release["c"].set()
        await asyncio.sleep(0.01)
        assert order[-1] == "big"
        release["big"].set()
        await asyncio.gather(a, b, c, big)
        return order

    asyncio.run(main())


@pytest.mark.parametrize("release_first", [False, True])
def test_a_waiter_cancelled_while_waiting_gives_its_places_back(release_first: bool) -> None:
    """Cancelled before or just after places free up (its future cancelled, its handler not
    yet run: the interleaving that once leaked the places and stalled the replica)."""

    async def main() -> list[int]:
        budget = DecodeBudget(2)
        entered: list[int] = []
        holder = asyncio.Event()

        async def hold(number: int) -> None:
            async with budget.hold(2):
                entered.append(number)
                await holder.wait()

        first = asyncio.ensure_future(hold(1))
        await asyncio.sleep(0)
        waiting = asyncio.ensure_future(hold(2))
        await asyncio.sleep(0.01)
        if release_first:
            holder.set()
            waiting.cancel()
        else:
            waiting.cancel()
            holder.set()
        await first
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        holder.clear()
        again = asyncio.ensure_future(hold(3))
        await asyncio.sleep(0.01)
        entered_now = entered[:]  # 3 is in: every place came back
        holder.set()
        await asyncio.wait_for(again, 1)
        return entered_now

    assert asyncio.run(main()) == [1, 3]
