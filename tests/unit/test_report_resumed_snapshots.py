"""A live run resumed after a kill re-runs a step whose time is before the killed run's last
mark-tick snapshot, so the journal's equity snapshots are not in time order by row id. The
summary and the tearsheet series read them in time order (the chaos harness's long run ended
with ``ts_ms must be non-decreasing`` from ``zerobeta run``'s closing summary)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import numpy as np

from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from agent.reporting.report import build_summary
from agent.reporting.strategy_returns import read_journal_series

T0_MS = 1_741_111_200_000
HOUR_MS = 3_600_000


def _journal(tmp_path: Path) -> Path:
    path = tmp_path / "j.sqlite"
    cash = {"binance": D(100_000)}
    written = [
        T0_MS,  # a step
        T0_MS + HOUR_MS + 1_286,  # a mark tick after the next step; then the run is killed
        T0_MS + HOUR_MS,  # the resumed run re-runs that step
        T0_MS + 2 * HOUR_MS,  # and goes on
    ]
    with Journal.open(path) as journal:
        journal.record_meta({"initial_cash_json": json.dumps({k: str(v) for k, v in cash.items()})})
        for ts_ms in written:
            journal.record_equity_snapshot(ts_ms, Portfolio(cash), 50_000.0)
    return path


def test_the_summary_reads_snapshots_in_time_order(tmp_path: Path) -> None:
    summary = build_summary(_journal(tmp_path))
    assert summary.ts_end_ms == T0_MS + 2 * HOUR_MS
    assert summary.final_equity_usd == D(100_000)


def test_the_series_are_in_time_order(tmp_path: Path) -> None:
    series = read_journal_series(_journal(tmp_path))
    expected = [T0_MS, T0_MS + HOUR_MS, T0_MS + HOUR_MS + 1_286, T0_MS + 2 * HOUR_MS]
    assert series.ts_ms.tolist() == expected
    assert bool(np.all(np.diff(series.ts_ms) >= 0))
