"""A symbol listed in the middle of the window (its files start late) does not make a strategy
with a refit period refit every hour.

The data folder is the bundled one with every SOL file (Binance perp, spot and funding, Bybit
and Hyperliquid funding) starting 2026-01-06 00:00 UTC; the window is 2026-01-01 → 2026-01-15
with warm-up, so the other symbols have their full history from the first step. The
factor-neutral book (rebalance_every_h = 168) must be fitted at the window's start, a period
later, and once more at the hour SOL has its ``history_bars`` closes (it joins the book then) —
not every hour while SOL lacks history, each hourly fit trading the whole book again. A run
stopped between the second and third fit and resumed from its journal must fit and trade
alike (the awaited instrument is in the checkpoint). Expected times are computed here from the
data file and the strategy's documented history length.
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig, load_config
from tests.integration.conftest import AGENT_TOML, DATA_DIR, run_replay

pytestmark = [pytest.mark.slow, pytest.mark.timeout(200)]

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
START_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC
LISTED_MS = START_MS + 5 * DAY_MS  # SOL's first bar opens 2026-01-06 00:00 UTC
SOL_FILES = (
    "binance/perp/SOLUSDT_1h.csv.gz",
    "binance/spot/SOLUSDT_1h.csv.gz",
    "binance/funding/SOLUSDT.csv.gz",
    "bybit/funding/SOLUSDT.csv.gz",
    "hyperliquid/funding/SOL.csv.gz",
)
# factor_neutral's history_bars: max(momentum_bars + skip_bars, beta_window_bars,
# vol_window_bars) + 1 closes, at least adv_window_h (agent.toml: 168 + 24, 168, 168; 168)
HISTORY_BARS = 168 + 24 + 1


def _listed_late(root: Path) -> Path:
    data = root / "data"
    shutil.copytree(DATA_DIR, data)
    for name in SOL_FILES:
        path = data / name
        with gzip.open(path, "rt", newline="") as f:
            rows = list(csv.reader(f))
        kept = [rows[0], *(r for r in rows[1:] if int(r[0]) >= LISTED_MS)]
        assert 1 < len(kept) < len(rows)
        with gzip.open(path, "wt", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(kept)
    return data


def _config(data: Path, journal: Path, end: str, *, overwrite: bool = True) -> AgentConfig:
    """Only the factor-neutral book runs; ``overwrite=False`` makes the replay resumable."""
    off = {"enabled": False}
    overrides: dict[str, Any] = {
        "journal": {"path": str(journal), "overwrite": overwrite},
        "logging": {"level": "warning", "progress": False},
        "market_data": {"data_dir": str(data), "start": "2026-01-01", "end": end},
        "strategies": {
            "funding_harvester": off,
            "stat_arb": off,
            "cross_venue_arb": off,
            "beta_hedger": off,
            "funding_flip_monitor": off,
        },
    }
    return load_config(AGENT_TOML, env={}, overrides=overrides)


def _fits(journal: Path) -> dict[int, set[str]]:
    """Each journaled factor-neutral book: its fit time → the symbols it weights."""
    with sqlite3.connect(journal) as conn:
        rows = conn.execute(
            "SELECT state_json FROM strategy_state WHERE strategy = 'factor_neutral'"
        ).fetchall()
    books = [json.loads(r[0])["book"] for r in rows]
    return {b["fitted_at_ms"]: set(b["weights"]) for b in books if b is not None}


def _fills(journal: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(journal) as conn:
        return conn.execute(
            "SELECT ts_ms, instrument, side, qty, price FROM fills ORDER BY seq"
        ).fetchall()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _listed_late(tmp_path_factory.mktemp("listed"))


def test_the_book_is_fitted_on_its_period_and_when_the_new_symbol_has_its_history(
    data: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "straight.sqlite"
    run_replay(_config(data, journal, "2026-01-15"))
    sol_complete_ms = LISTED_MS + HOUR_MS + (HISTORY_BARS - 1) * HOUR_MS  # its 193rd close
    fits = _fits(journal)
    assert sorted(fits) == [START_MS, START_MS + 7 * DAY_MS, sol_complete_ms]
    assert "SOLUSDT" not in fits[START_MS] | fits[START_MS + 7 * DAY_MS]
    assert "SOLUSDT" in fits[sol_complete_ms]
    assert {ts for ts, *_ in _fills(journal)} <= set(fits)  # trades only when it refits

    stopped = tmp_path / "resumed.sqlite"
    run_replay(_config(data, stopped, "2026-01-10", overwrite=False))  # resumable
    run_replay(_config(data, stopped, "2026-01-15", overwrite=False))
    assert _fits(stopped) == fits
    assert _fills(stopped) == _fills(journal)
