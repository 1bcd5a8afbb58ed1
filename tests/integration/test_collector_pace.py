"""A replay runs with the collector's run pace and BLAS on one thread, and leaves the process's
thresholds and thread counts as it found them (agent.collector and agent.blas through
Supervisor.run)."""

from __future__ import annotations

import gc
from datetime import date
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from agent.blas import RUN_BLAS_THREADS
from agent.collector import YOUNG_THRESHOLD
from agent.engine.engine import Engine
from tests.integration.conftest import replay_config, run_replay


def test_a_replay_steps_at_the_run_pace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[tuple[int, int, int]] = set()
    step = Engine.step

    async def recording_step(self: Engine, *args: object, **kwargs: object) -> object:
        seen.add(gc.get_threshold())
        return await step(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "step", recording_step)
    before = gc.get_threshold()
    run_replay(replay_config(tmp_path / "j.sqlite", date(2025, 1, 1), date(2025, 1, 3)))
    assert seen == {(YOUNG_THRESHOLD, *before[1:])}
    assert gc.get_threshold() == before


def test_a_replay_steps_with_blas_on_one_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: set[int] = set()
    step = Engine.step
    loaded: set[str] = set()  # the BLAS libraries loaded before the run (those it limits)

    async def recording_step(self: Engine, *args: object, **kwargs: object) -> object:
        seen.update(i["num_threads"] for i in threadpool_info() if i["filepath"] in loaded)
        return await step(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "step", recording_step)
    with threadpool_limits(limits=2, user_api="blas"):  # not 1: a run that limited nothing fails
        before = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
        loaded.update(i["filepath"] for i in threadpool_info() if i["user_api"] == "blas")
        run_replay(replay_config(tmp_path / "j.sqlite", date(2025, 1, 1), date(2025, 1, 3)))
        after = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
    assert seen == {RUN_BLAS_THREADS}
    assert [a for a in after if a[0] in dict(before)] == before
