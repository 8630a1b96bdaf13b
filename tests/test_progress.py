"""Progress and cancellation of long explanations, without Ray."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from visionserve.errors import Cancelled
from visionserve.explain.methods import METHODS
from visionserve.explain.options import Options
from visionserve.explain.progress import Progress, ProgressEvents


class _Sum(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).sum(dim=1, keepdim=True)


def _first(scores: torch.Tensor) -> torch.Tensor:
    return scores[:, 0]


def test_occlusion_reports_every_batch_in_order() -> None:
    heard: list[tuple[str, int, int]] = []
    progress = Progress(lambda *event: heard.append(event))
    progress.begin("occlusion")
    options = Options(patch=8, stride=8, batch_size=5, progress=progress)
    METHODS["occlusion"].explain(_Sum(), torch.ones(1, 3, 32, 32), _first, None, options)  # type: ignore[arg-type]
    assert heard == [("occlusion", 0, 1), *[("occlusion", min(n, 16), 16) for n in (5, 10, 15, 20)]]


def test_a_cancelled_method_stops_at_its_next_batch() -> None:
    batches = []

    def listener(stage: str, done: int, total: int) -> None:
        batches.append(done)
        if done >= 10:
            progress.cancel()

    progress = Progress(listener)
    options = Options(masks=640, batch_size=10, progress=progress)
    with pytest.raises(Cancelled):
        METHODS["rise"].explain(_Sum(), torch.ones(1, 3, 16, 16), _first, None, options)  # type: ignore[arg-type]
    assert batches == [10]


def test_cancel_from_another_thread_is_seen() -> None:
    progress = Progress()
    thread = threading.Thread(target=progress.cancel)
    thread.start()
    thread.join()
    with pytest.raises(Cancelled, match="during saliency"):
        progress.begin("saliency")


def test_events_keep_stage_edges_and_thin_out_batches() -> None:
    events = ProgressEvents(["saliency", "occlusion"], interval_s=1.0)
    heard = [("saliency", 0, 1), ("occlusion", 0, 9), ("occlusion", 1, 9), ("occlusion", 2, 9)]
    sent = events.worth_sending(heard, now=10.0)
    assert [(e["stage"], e["done"]) for e in sent] == [("saliency", 0), ("occlusion", 0)]
    assert sent[1]["stage_index"] == 1
    assert sent[1]["stages"] == 2
    assert events.worth_sending([("occlusion", 3, 9)], now=10.5) == []
    assert [e["done"] for e in events.worth_sending([("occlusion", 4, 9)], now=11.1)] == [4]
    assert [e["done"] for e in events.worth_sending([("occlusion", 9, 9)], now=11.2)] == [9]


def test_options_from_a_request_cannot_set_progress() -> None:
    from visionserve.explain.options import Options, options_from

    options = options_from(Options, {"stride": 4, "progress": "anything"})
    assert options.stride == 4
    assert isinstance(options.progress, Progress)


def test_a_request_behind_others_hears_how_many_are_ahead_and_can_leave_the_line() -> None:
    from visionserve.explain.line import WorkLine

    line = WorkLine()
    heard: list[tuple[str, int, int]] = []
    first_in, release = threading.Event(), threading.Event()

    def hold() -> None:
        with line.turn("m"):
            first_in.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert first_in.wait(10)
    behind = Progress(lambda *event: heard.append(event))
    leaving = Progress()
    gone: list[BaseException] = []

    def wait_then_leave() -> None:
        try:
            with line.turn("m", leaving):
                pass
        except Cancelled as exc:
            gone.append(exc)

    second = threading.Thread(target=wait_then_leave)
    second.start()  # second in line, then it leaves: the third moves up
    time.sleep(0.2)
    third_done = threading.Event()

    def third() -> None:
        with line.turn("m", behind):
            third_done.set()

    threading.Thread(target=third).start()
    time.sleep(0.2)
    leaving.cancel()
    second.join(5)
    assert gone
    time.sleep(0.8)
    release.set()
    assert third_done.wait(10)
    holder.join(5)
    assert [ahead for stage, ahead, _ in heard if stage == "queue"] == [2, 1]
    (event,) = ProgressEvents(["gradcam"]).worth_sending([("queue", 2, 0)], 0.0)
    assert (event["stage"], event["ahead"], event["done"], event["total"]) == ("queue", 2, 0, 1)


def test_the_line_runs_its_slots_at_once_but_one_request_per_model() -> None:
    from visionserve.explain.line import WorkLine

    line = WorkLine(slots=2)
    running: list[str] = []
    most: dict[str, int] = {}
    guard = threading.Lock()

    def work(model: str) -> None:
        with line.turn(model):
            with guard:
                running.append(model)
                most["all"] = max(most.get("all", 0), len(running))
                most[model] = max(most.get(model, 0), running.count(model))
            time.sleep(0.05)
            with guard:
                running.remove(model)

    threads = [threading.Thread(target=work, args=(m,)) for m in ["a", "a", "b", "b", "c", "a"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most["all"] == 2
    assert most["a"] == most["b"] == most["c"] == 1


@pytest.mark.parametrize("masks", [64, 70])
def test_a_rise_seed_gives_the_same_map_at_any_batch_size(masks: int) -> None:
    """The forward batch is the service's choice, not the caller's: it must not move the map."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32)
    maps = [
        METHODS["rise"]
        .explain(_Sum(), x, _first, None, Options(masks=masks, grid=4, seed=3, batch_size=b))
        .raw  # type: ignore[arg-type]
        for b in (1, 8, 32, 50)
    ]
    scale = float(abs(maps[0]).max())
    for other in maps[1:]:  # the same masks: only float32 sums in another order differ
        assert float(abs(other - maps[0]).max()) <= 1e-5 * scale
