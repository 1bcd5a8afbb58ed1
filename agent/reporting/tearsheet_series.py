"""The time series a tearsheet plots, read from a journal (read-only).

Per equity snapshot (epoch ms UTC, hourly in a replay): equity and drawdown, the cumulative
P&L of each stream (signed, costs negative, as journaled by the live ledger) and of each
strategy (its latest ``strategy_pnl_snapshots`` row at or before the snapshot); per UTC day:
the rolling beta to BTC of the portfolio's and each strategy's daily returns
(:func:`agent.reporting.analysis.rolling_beta` over the same daily series as the neutrality
report); per funding payment (``funding_payments``): the cumulative funding of each venue.
Floats (float64) are for plotting only: every number a tearsheet prints comes from the
report's exact figures.

Errors: :class:`~agent.errors.JournalError` for an unreadable journal or malformed snapshots.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.errors import JournalError
from agent.reporting.analysis import DEFAULT_THRESHOLDS, daily_series, rolling_beta
from agent.reporting.neutrality_report import PORTFOLIO
from agent.reporting.strategy_returns import (
    FloatArray,
    IntArray,
    pnl_as_of,
    read_journal_series,
    strategy_daily_returns,
)
from venues.model import InstrumentId

STREAM_LABELS = {
    "price_spot_usd": "price (spot)",
    "price_perp_usd": "price (perp)",
    "funding_usd": "funding",
    "fees_usd": "fees",
    "slippage_usd": "slippage",
    "total_usd": "total",
}
"""Signed P&L streams in plotting order, with their legend labels."""
_COSTS = ("fees_usd", "slippage_usd")  # journaled positive, plotted negative
_STREAM_SQL = (
    "SELECT price_spot_usd, price_perp_usd, funding_usd, fees_usd, slippage_usd, total_pnl_usd"
    " FROM equity_snapshots ORDER BY ts_ms, id"  # as read_journal_series: in time order
)
_FUNDING_SQL = "SELECT ts_ms, instrument, amount_usd FROM funding_payments ORDER BY seq"


@dataclass(frozen=True, slots=True)
class TearsheetSeries:
    """Everything a tearsheet plots (float64 arrays; times epoch ms UTC, int64).

    Attributes
    ----------
    ts_ms : ndarray, shape (n,)
        Equity snapshot times.
    equity_usd, drawdown_frac : ndarray, shape (n,)
        Equity, USD; fall from the running peak, fraction of the peak (>= 0).
    stream_pnl_usd : Mapping[str, ndarray of shape (n,)]
        Cumulative signed P&L per stream (keys of :data:`STREAM_LABELS`), USD.
    strategy_pnl_usd : Mapping[str, ndarray of shape (n,)]
        Cumulative P&L per strategy (``"unattributed"`` included when journaled), USD.
    beta_ts_ms : ndarray, shape (d,)
        Start of the UTC day whose close ends each rolling window.
    rolling_beta : Mapping[str, ndarray of shape (d,)]
        ``"portfolio"`` and each strategy; NaN until a full window, dimensionless.
    rolling_window_days : int
    beta_band_abs : float
        The neutrality band ``|β| <`` this (0.10, SEEDS.md).
    funding_cum_usd : Mapping[str, tuple[ndarray, ndarray]]
        Per venue: payment times and cumulative funding received (positive), USD.
    """

    ts_ms: IntArray
    equity_usd: FloatArray
    drawdown_frac: FloatArray
    stream_pnl_usd: Mapping[str, FloatArray]
    strategy_pnl_usd: Mapping[str, FloatArray]
    beta_ts_ms: IntArray
    rolling_beta: Mapping[str, FloatArray]
    rolling_window_days: int
    beta_band_abs: float
    funding_cum_usd: Mapping[str, tuple[IntArray, FloatArray]]


def read_tearsheet_series(journal_path: Path, *, rolling_window: int = 21) -> TearsheetSeries:
    """The plotted series of the run journaled at ``journal_path`` (read-only).

    Parameters
    ----------
    journal_path : Path
    rolling_window : int
        Rolling-beta window, UTC days (``>= 2``), as the neutrality report's.

    Raises
    ------
    JournalError
        Unreadable journal or malformed snapshots (non-finite, times going back).
    """
    data = read_journal_series(journal_path)
    ts, eq = data.ts_ms, data.equity_usd
    try:
        streams, funding = _read(journal_path)
        strategies = {s: pnl_as_of(ts, p) for s, p in sorted(data.strategy_pnl.items())}
        keep = np.isfinite(data.btc_price_usd)
        daily = daily_series(ts[keep], eq[keep], data.btc_price_usd[keep])
        btc = daily.btc_returns_frac
        betas = {PORTFOLIO: rolling_beta(daily.equity_returns_frac, btc, rolling_window)}
        for name, pnl in sorted(data.strategy_pnl.items()):
            returns = strategy_daily_returns(ts[keep], eq[keep], pnl)
            betas[name] = rolling_beta(returns, btc, rolling_window)
    except ValueError as err:
        raise JournalError(f"malformed snapshots: {err}", path=str(journal_path)) from err
    peak = np.maximum.accumulate(eq) if eq.size else eq
    return TearsheetSeries(
        ts_ms=ts,
        equity_usd=eq,
        drawdown_frac=np.divide(peak - eq, peak, out=np.zeros_like(eq), where=peak > 0),
        stream_pnl_usd=streams,
        strategy_pnl_usd=strategies,
        beta_ts_ms=np.asarray(daily.ts_day_ms[1:], dtype=np.int64),
        rolling_beta=betas,
        rolling_window_days=rolling_window,
        beta_band_abs=DEFAULT_THRESHOLDS.neutral_beta_abs,
        funding_cum_usd=funding,
    )


def _read(
    journal_path: Path,
) -> tuple[dict[str, FloatArray], dict[str, tuple[IntArray, FloatArray]]]:
    """Signed stream columns of the equity snapshots, and each venue's cumulative funding."""
    uri = journal_path.resolve().as_uri() + "?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            rows = conn.execute(_STREAM_SQL).fetchall()
            payments = conn.execute(_FUNDING_SQL).fetchall()
    except sqlite3.Error as err:
        raise JournalError(f"read failed: {err}", path=str(journal_path)) from err
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(STREAM_LABELS))
    streams = {}
    for i, name in enumerate(STREAM_LABELS):
        column = table[:, i]
        streams[name] = -column if name in _COSTS else column
    by_venue: dict[str, tuple[list[int], list[float]]] = {}
    for ts_ms, instrument, amount_usd in payments:
        times, amounts = by_venue.setdefault(InstrumentId.parse(instrument).venue, ([], []))
        times.append(ts_ms)
        amounts.append(float(amount_usd))
    funding = {
        venue: (np.array(times, dtype=np.int64), np.cumsum(np.array(amounts, dtype=np.float64)))
        for venue, (times, amounts) in sorted(by_venue.items())
    }
    return streams, funding
