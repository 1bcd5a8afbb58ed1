"""The naked-budget check is wired into the engine: every hourly step and every mark tick check
the pairs' exposure at their own time, and every pair a replay sends is journaled once.

A short replay of the bundled data with the shipped ``agent.toml``; a mark tick is fed between
two steps the way the live driver does (``await engine.mark_tick``). Expected values come from
the journal's raw rows (``sqlite3``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agent.engine.engine import Engine
from agent.execution.executor import Executor
from tests.integration.conftest import replay_config, run_replay
from venues.model import InstrumentId

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

START = date(2025, 9, 1)
END = date(2025, 9, 4)
TICK_AFTER_MS = 30 * 60 * 1000  # a mark tick half-way through the hour


@dataclass(frozen=True, slots=True)
class Tick:
    ts_ms: int
    prices: Mapping[InstrumentId, float]


def test_steps_and_mark_ticks_check_the_exposure_and_every_pair_is_journaled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[int] = []
    stepped: list[int] = []
    ticked: list[int] = []
    original_check = Executor.check_exposure
    original_step = Engine.step

    async def check_exposure(self: Executor, now_ms: int, prices: Any) -> None:
        checked.append(now_ms)
        await original_check(self, now_ms, prices)

    async def step(self: Engine, market_step: Any) -> None:
        await original_step(self, market_step)
        stepped.append(market_step.ts_ms)
        if len(stepped) % 24 == 1:  # once a day: a mark tick 30 min after the step
            tick = Tick(market_step.ts_ms + TICK_AFTER_MS, dict(self.market.prices))
            ticked.append(tick.ts_ms)
            await self.mark_tick(tick)

    monkeypatch.setattr(Executor, "check_exposure", check_exposure)
    monkeypatch.setattr(Engine, "step", step)
    journal = tmp_path / "j.sqlite"
    run_replay(replay_config(journal, START, END))

    assert len(stepped) > 24
    assert len(ticked) >= 2
    assert sorted(checked) == sorted(stepped + ticked)  # once per step and per mark tick
    with sqlite3.connect(journal) as conn:
        intents = conn.execute("SELECT strategy, intent_id, legs_json FROM intents").fetchall()
        orders = conn.execute("SELECT DISTINCT strategy, intent_id, leg FROM orders").fetchall()
        rows = conn.execute(
            "SELECT strategy, intent_id, unhedged_usd_s, longest_unhedged_ms, past_budget,"
            " outcome, leg_policy, naked_budget_usd_s FROM pair_exposure"
        ).fetchall()
    # A pair is an intent sent as two or more orders (paper: every one fills at once).
    legs_sent: dict[tuple[str, str], set[str]] = {}
    for strategy, intent_id, leg in orders:
        legs_sent.setdefault((strategy, intent_id), set()).add(leg)
    sent_pairs = {key for key, legs in legs_sent.items() if len(legs) >= 2}
    assert sent_pairs, "the window should trade pairs"
    assert sorted((r[0], r[1]) for r in rows) == sorted(sent_pairs)  # each once
    assert {(r[2], r[3], r[4], r[5]) for r in rows} == {(0.0, 0, 0, "filled")}
    assert {(r[6], r[7]) for r in rows} == {("simultaneous", 3600.0)}  # the shipped defaults
    # Intents sent as one order (a single leg off target) are no pair and have no row.
    single = [(s, i) for s, i, legs in intents if len(json.loads(legs)) == 1]
    assert not set(single) & {(r[0], r[1]) for r in rows}
