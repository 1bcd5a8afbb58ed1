"""Working maker-first orders survive a restart: the resume checkpoint carries every working
maker-first intent (its plan, deadline, legs and the post-only order resting on each), and the
resumed run re-adopts them — settled with the journal, rested again on the rebuilt paper venue —
so they fill, re-quote and go as taker at their deadline as if the run had never stopped.

Why re-adopt rather than cancel: the order is live on the venue and wanted (cancelling loses
its place and its fills would be reversed as the late fills of a failed intent, then the
strategy sends them again and pays twice); its deadline, counted from when it was first sent,
still bounds how long the pair may work. What the journal holds is the truth for the legs: a
live run re-quotes between its hourly checkpoints, so a restored leg takes its filled quantity,
next attempt and resting order from the journaled orders (``settle_leg_with_journal``).

The kill falls between placing and the deadline: run B stops right after a step in which
maker-first intents were sent (their one-hour deadline not reached; the checkpoint of that step
lists them with their resting orders), run C resumes B's journal. Every strategy runs
maker-first; A goes through the window in one go. A and B + C must book the same fills, funding
and equity snapshots.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig, load_config
from tests.integration.conftest import AGENT_TOML, read_journal, run_replay

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

START, SPLIT, END = date(2025, 9, 1), date(2025, 9, 5), date(2025, 9, 10)


def _config(journal: Path, end: date, *, overwrite: bool) -> AgentConfig:
    base = load_config(AGENT_TOML, env={})
    strategies = {name: {"execution_style": "maker_first"} for name in base.strategies.names()}
    overrides: dict[str, Any] = {
        "journal": {"path": str(journal), "overwrite": overwrite},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"start": START.isoformat(), "end": end.isoformat()},
        "strategies": strategies,
    }
    return load_config(AGENT_TOML, env={}, overrides=overrides)


def _snapshots(journal: Path) -> list[tuple[int, Any]]:
    return sorted({(s.ts_ms, s.equity_usd) for s in read_journal(journal).snapshots})


def test_a_resumed_run_re_adopts_its_working_maker_orders(tmp_path: Path) -> None:
    whole, split = tmp_path / "whole.sqlite", tmp_path / "split.sqlite"
    uninterrupted = run_replay(_config(whole, END, overwrite=True))
    first = run_replay(_config(split, SPLIT, overwrite=False))
    with sqlite3.connect(split) as conn:
        (text,) = conn.execute("SELECT value FROM run_meta WHERE key = 'resume_json'").fetchone()
    checkpoint = json.loads(text)
    working = checkpoint["maker_working"]
    last_step_ms = int(checkpoint["last_step_ms"])
    resting = [leg["resting"] for w in working for leg in w["makers"] if leg["resting"]]
    assert working  # intents work at the kill ...
    assert resting  # ... with orders resting ...
    assert all(w["deadline_ms"] > last_step_ms for w in working)  # ... before their deadline
    second = run_replay(_config(split, END, overwrite=False))

    a, b = read_journal(whole), read_journal(split)
    assert b.fills == a.fills
    assert b.funding == a.funding
    assert _snapshots(split) == _snapshots(whole)
    assert first.steps + second.steps == uninterrupted.steps
    # the re-adopted orders filled after the restart, as maker, at their limit, once each
    cids = {r["client_order_id"] for r in resting}
    with sqlite3.connect(split) as conn:
        rows = conn.execute(
            "SELECT client_order_id, ts_ms, liquidity FROM fills WHERE ts_ms > ?",
            (last_step_ms,),
        ).fetchall()
    late = [r for r in rows if r[0] in cids]
    assert late
    assert {r[2] for r in late} == {"maker"}
