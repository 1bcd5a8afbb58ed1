"""A run stopped and restarted on its journal continues exactly where it left off.

Replay: run A goes through the window in one go; run B stops half-way and run C resumes B's
journal to the end. A deterministic engine must book the same fills, funding payments and
equity snapshots in A as in B + C — so every piece of state a restart needs (ledger, paper
venues, strategy states and schedules, risk high-water mark, flip monitor) was checkpointed
and restored, and nothing was booked twice. Every strategy of the shipped config runs.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig, load_config
from agent.errors import JournalError
from tests.integration.conftest import AGENT_TOML, read_journal, run_replay

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

START, SPLIT, END = date(2025, 9, 1), date(2025, 9, 24), date(2025, 10, 20)


def _config(journal: Path, end: date, *, overwrite: bool) -> AgentConfig:
    overrides: dict[str, Any] = {
        "journal": {"path": str(journal), "overwrite": overwrite},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"start": START.isoformat(), "end": end.isoformat()},
    }
    return load_config(AGENT_TOML, env={}, overrides=overrides)


def _booked(journal: Path) -> tuple[list[Any], list[Any], list[Any]]:
    data = read_journal(journal)
    snapshots = sorted({(s.ts_ms, s.equity_usd) for s in data.snapshots})
    return data.fills, data.funding, snapshots


def test_a_resumed_replay_books_exactly_what_an_uninterrupted_one_does(tmp_path: Path) -> None:
    whole = tmp_path / "whole.sqlite"
    split = tmp_path / "split.sqlite"
    uninterrupted = run_replay(_config(whole, END, overwrite=True))
    first = run_replay(_config(split, SPLIT, overwrite=False))
    fills_at_split = len(read_journal(split).fills)
    second = run_replay(_config(split, END, overwrite=False))

    fills_a, funding_a, snapshots_a = _booked(whole)
    fills_b, funding_b, snapshots_b = _booked(split)
    assert fills_at_split > 0
    assert len(fills_a) > fills_at_split  # trading happened after the split too
    assert {f.strategy for f in fills_a} >= {"funding_harvester", "stat_arb", "beta_hedger"}
    assert fills_b == fills_a
    assert funding_b == funding_a
    assert snapshots_b == snapshots_a
    # the second run processed only the steps after the first one's last: none twice
    assert first.steps + second.steps == uninterrupted.steps


def test_a_damaged_checkpoint_is_refused_not_started_over(tmp_path: Path) -> None:
    journal = tmp_path / "split.sqlite"
    run_replay(_config(journal, date(2025, 9, 3), overwrite=False))
    with sqlite3.connect(journal) as conn:
        conn.execute("INSERT INTO run_meta (key, value) VALUES ('resume_json', '{not json')")
    with pytest.raises(JournalError, match="cannot resume"):
        run_replay(_config(journal, date(2025, 9, 5), overwrite=False))
