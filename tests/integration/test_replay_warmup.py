"""A backtest of a window loads the history its strategies ask for before the window (warm-up)
and trades only inside it: stat arb, which needs ``calibration_bars`` hourly closes to fit its
pairs, is fitted at the window's first step and trades on its first day."""

from __future__ import annotations

import json
import sqlite3
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from tests.integration.conftest import AGENT_TOML, HOUR_MS, run_replay

pytestmark = pytest.mark.timeout(120)

START_MS = int(datetime(2025, 10, 1, tzinfo=UTC).timestamp() * 1000)
DAY_MS = 24 * HOUR_MS


def _config(journal: Path, start: str, end: str) -> Any:
    off = {"enabled": False}
    overrides = {
        "journal": {"path": str(journal)},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"start": start, "end": end},
        "strategies": {
            n: off
            for n in ("funding_harvester", "factor_neutral", "cross_venue_arb", "beta_hedger")
        },
    }
    return load_config(AGENT_TOML, env={}, overrides=overrides)


def _rows(journal: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(journal) as conn:
        return conn.execute(sql).fetchall()


def test_stat_arb_is_fitted_at_the_first_step_and_trades_on_the_first_day(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "warm.sqlite"
    config = _config(journal, "2025-10-01", "2025-10-15")
    with AGENT_TOML.open("rb") as f:
        calibration_bars = tomllib.load(f)["strategies"]["stat_arb"]["calibration_bars"]
    result = run_replay(config)

    assert result.start_ms == START_MS  # the first step traded is the window's
    (first_state,) = _rows(
        journal,
        "SELECT ts_ms, state_json FROM strategy_state WHERE strategy = 'stat_arb'"
        " ORDER BY id LIMIT 1",
    )
    fit = json.loads(first_state[1])["fit"]
    assert fit["fitted_at_ms"] == START_MS  # the warm-up held calibration_bars closes
    assert fit["n_tested"] > 0
    (first_intent_ms,) = _rows(journal, "SELECT min(ts_ms) FROM intents")[0]
    assert START_MS <= first_intent_ms < START_MS + DAY_MS
    # nothing traded, settled or snapshotted in the warm-up
    for table in ("intents", "orders", "fills", "funding_payments", "equity_snapshots"):
        (earliest,) = _rows(journal, f"SELECT min(ts_ms) FROM {table}")[0]
        assert earliest is None or earliest >= START_MS, table
    meta = dict(_rows(journal, "SELECT key, value FROM run_meta"))
    assert int(meta["window_first_ms"]) == START_MS
    assert calibration_bars > 24  # a real warm-up: more than the first day


def test_without_a_start_there_is_no_warm_up(tmp_path: Path) -> None:
    """The whole data is the window (the default run): its first bar is traded."""
    journal = tmp_path / "cold.sqlite"
    config = _config(journal, "2024-10-01", "2024-10-26")
    config = config.model_copy(
        update={"market_data": config.market_data.model_copy(update={"start": None})}
    )
    first_bar_ms = int(datetime(2024, 10, 23, 9, tzinfo=UTC).timestamp() * 1000)
    result = run_replay(config)
    meta = dict(_rows(journal, "SELECT key, value FROM run_meta"))
    assert result.start_ms == first_bar_ms
    assert int(meta["window_first_ms"]) == first_bar_ms
