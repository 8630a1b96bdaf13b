"""`visionserve serve` says, once per change, when its ingress serves another port than it printed."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from visionserve import cli


class _Service:
    """What moved_ports answers at each check; the service stops after the last one."""

    def __init__(self, answers: list[dict[str, int] | Exception], stop: threading.Event) -> None:
        self.answers = answers
        self.stop = stop

    def moved_ports(self) -> dict[str, int]:
        answer = self.answers.pop(0)
        if not self.answers:
            self.stop.set()
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_moved_and_restored_ports_are_reported_once_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "PORT_CHECK_S", 0.001)
    stop = threading.Event()
    answers: list[Any] = [{}, {"HTTP": 8001}, {"HTTP": 8001}, RuntimeError("controller busy"), {}, {}]
    cli._watch_ports(_Service(answers, stop), stop)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert err.count("ERROR: HTTP is now served on port 8001") == 1
    assert err.count("HTTP is back on the service's port") == 1
    assert "could not check the ports: controller busy" in err
