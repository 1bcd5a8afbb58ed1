"""A replay runs with the collector's run pace and leaves the process's thresholds as it found
them (agent.collector through Supervisor.run)."""

from __future__ import annotations

import gc
from datetime import date
from pathlib import Path

import pytest

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
