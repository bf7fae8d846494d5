"""How many DataLoader workers the runner picks when none is asked for."""

from __future__ import annotations

import pytest

from imagenet_e.eval import runner


@pytest.mark.parametrize(("cores", "world", "device", "expected"), [
    (2, 1, "cpu", 0),    # the CPU forward uses both cores: decode inline between forwards
    (1, 1, "cpu", 0),
    (2, 1, "cuda", 1),   # the forward runs on the GPU: a worker decodes meanwhile
    (8, 1, "cpu", 7),
    (8, 4, "cpu", 0),    # 2 cores per rank
    (64, 1, "cuda", 16),
])
def test_default_workers(monkeypatch: pytest.MonkeyPatch, cores: int, world: int, device: str, expected: int) -> None:
    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert runner._default_workers(world, device) == expected
