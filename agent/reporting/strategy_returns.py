"""Daily strategy returns read from a journal, for the per-strategy neutrality report.

A strategy has no equity of its own, so its daily return is its *contribution* to the
portfolio return::

    r_s[d] = (P_s[d] − P_s[d−1]) / E[d−1]

``P_s`` is the strategy's cumulative P&L (``total_pnl_usd`` of its ``strategy_pnl_snapshots``
rows, taken as of each equity snapshot, 0 before its first row) at the UTC-day-close snapshots
that :func:`agent.reporting.analysis.daily_series` picks for the equity curve, and ``E`` the
portfolio
equity at the previous day close. Because the ledger's P&L streams add up to the equity change
exactly (``Portfolio.check_identity`` runs before every snapshot), the strategies' returns,
``"unattributed"`` funding included, sum to the portfolio's daily return.

:func:`read_journal_series` opens the journal read-only (SQLite ``mode=ro``), so it never
writes to it and can run beside a daemon that is writing (it does not use
:class:`agent.journal.journal.Journal`, whose ``open`` creates a missing file).

Errors: :class:`JournalError` (missing file, not a zerobeta journal, other schema version,
SQLite read failure); :class:`ValueError` for malformed arrays given to the pure functions.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from agent.errors import JournalError
from agent.journal.journal import SCHEMA_VERSION
from agent.reporting.analysis import MS_PER_DAY
from agent.reporting.funding_gaps import FundingGapStats, read_funding_gaps

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class StrategyPnl(NamedTuple):
    """A strategy's journaled cumulative P&L: times (epoch ms, shape (k,), int64) and
    ``total_pnl_usd`` (USD, shape (k,), float64), in journal order."""

    ts_ms: IntArray
    total_usd: FloatArray


class JournalSeries(NamedTuple):
    """What the report reads from a journal.

    ``ts_ms`` (int64), ``equity_usd`` and ``btc_price_usd`` (float64, NaN where the snapshot
    has no BTC price) have shape (n,), one per equity snapshot in journal order;
    ``initial_equity_usd`` is that of the last snapshot (NaN without snapshots);
    ``strategies`` the run metadata's strategy names; ``funding_gaps`` the live run's
    funding reconciliation per perp (:mod:`agent.reporting.funding_gaps`).
    """

    strategies: tuple[str, ...]
    ts_ms: IntArray
    equity_usd: FloatArray
    btc_price_usd: FloatArray
    initial_equity_usd: float
    strategy_pnl: Mapping[str, StrategyPnl]
    funding_gaps: tuple[FundingGapStats, ...] = ()


# ---------------------------------------------------------------------------------------------
# Journal reader


def read_journal_series(journal_path: Path) -> JournalSeries:
    """Equity snapshots, per-strategy P&L rows and strategy names of a journal, read-only.

    Parameters
    ----------
    journal_path : Path
        A zerobeta SQLite journal (``agent.journal.journal`` schema version ``SCHEMA_VERSION``).

    Returns
    -------
    JournalSeries

    Raises
    ------
    JournalError
        The file does not exist, cannot be read, is not a zerobeta journal or has another
        schema version.
    """
    name = str(journal_path)
    if not journal_path.is_file():
        raise JournalError("no journal file at this path", path=name)
    uri = journal_path.resolve().as_uri() + "?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            _check_schema(conn, name)
            return _read_series(conn)
    except sqlite3.Error as err:
        raise JournalError(f"read failed: {err}", path=name) from err


def _check_schema(conn: sqlite3.Connection, path: str) -> None:
    try:
        found = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    except sqlite3.Error as err:
        raise JournalError(f"not a zerobeta journal ({err})", path=path) from err
    # Migrations only add, so a journal of an earlier release reads the same (read-only here:
    # it is migrated when a run opens it for writing).
    if not isinstance(found, int) or found > SCHEMA_VERSION:
        raise JournalError(
            f"schema version {found}, this zerobeta reads up to {SCHEMA_VERSION}",
            path=path,
            found_version=found if isinstance(found, int) else None,
        )


def _read_series(conn: sqlite3.Connection) -> JournalSeries:
    meta = conn.execute(
        "SELECT value FROM run_meta WHERE key = 'strategies' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    snaps = conn.execute(
        "SELECT ts_ms, equity_usd, initial_equity_usd, btc_price FROM equity_snapshots"
        " ORDER BY ts_ms, id"  # a resumed live run may write a step before its killed run's tick
    ).fetchall()
    rows: dict[str, list[tuple[int, float]]] = {}
    sql = "SELECT strategy, ts_ms, total_pnl_usd FROM strategy_pnl_snapshots ORDER BY ts_ms, id"
    for strategy, ts_ms, total in conn.execute(sql):
        rows.setdefault(strategy, []).append((ts_ms, float(total)))
    pnl = {
        s: StrategyPnl(
            np.array([r[0] for r in v], dtype=np.int64), np.array([r[1] for r in v], dtype=float)
        )
        for s, v in rows.items()
    }
    return JournalSeries(
        strategies=tuple(s for s in (meta[0] if meta else "").split(",") if s),
        ts_ms=np.array([r[0] for r in snaps], dtype=np.int64),
        equity_usd=np.array([float(r[1]) for r in snaps], dtype=float),
        btc_price_usd=np.array([math.nan if r[3] is None else r[3] for r in snaps], dtype=float),
        initial_equity_usd=float(snaps[-1][2]) if snaps else math.nan,
        strategy_pnl=pnl,
        funding_gaps=read_funding_gaps(conn),
    )


# ---------------------------------------------------------------------------------------------
# Daily strategy returns


def day_close_indices(ts_ms: npt.ArrayLike) -> IntArray:
    """Index of the last snapshot of each UTC day, as :func:`agent.reporting.analysis.daily_series`
    picks.

    Parameters
    ----------
    ts_ms : array_like, shape (n,), int64
        Snapshot times, epoch ms UTC, non-decreasing.

    Returns
    -------
    ndarray, shape (d,), int64
        Increasing indices into ``ts_ms``, one per UTC day holding a snapshot.
    """
    day = np.asarray(ts_ms, dtype=np.int64) // MS_PER_DAY
    return np.flatnonzero(np.append(day[1:] != day[:-1], day.size > 0)).astype(np.int64)


def pnl_as_of(ts_ms: npt.ArrayLike, pnl: StrategyPnl) -> FloatArray:
    """Cumulative P&L at each time: the last row at or before it (0.0 before the first row).

    Parameters
    ----------
    ts_ms : array_like, shape (n,), int64
        Query times, epoch ms.
    pnl : StrategyPnl
        Rows with non-decreasing ``ts_ms``; of equal times the last row wins.

    Returns
    -------
    ndarray, shape (n,), float64
        USD.

    Raises
    ------
    ValueError
        ``pnl`` rows go back in time, differ in length, or hold NaN/inf.
    """
    if pnl.ts_ms.shape != pnl.total_usd.shape:
        raise ValueError(f"P&L times {pnl.ts_ms.shape} and totals {pnl.total_usd.shape} differ")
    if np.any(np.diff(pnl.ts_ms) < 0):
        raise ValueError("P&L snapshot times must be non-decreasing")
    if not np.all(np.isfinite(pnl.total_usd)):
        raise ValueError("P&L snapshots hold a non-finite total")
    at = np.searchsorted(pnl.ts_ms, np.asarray(ts_ms, dtype=np.int64), side="right") - 1
    return np.where(at >= 0, pnl.total_usd[np.maximum(at, 0)], 0.0)


def strategy_daily_returns(
    ts_ms: npt.ArrayLike, equity_usd: npt.ArrayLike, pnl: StrategyPnl
) -> FloatArray:
    """A strategy's daily contribution to the portfolio return (module docstring formula).

    Parameters
    ----------
    ts_ms : array_like, shape (n,), int64
        Equity snapshot times, epoch ms UTC, non-decreasing.
    equity_usd : array_like, shape (n,), float64
        Portfolio equity at those snapshots, USD, > 0.
    pnl : StrategyPnl
        The strategy's cumulative P&L rows.

    Returns
    -------
    ndarray, shape (d − 1,), float64
        ``(P[d] − P[d−1]) / E[d−1]`` over consecutive UTC-day closes, aligned with
        ``daily_series(ts_ms, equity_usd, btc).btc_returns_frac``.

    Raises
    ------
    ValueError
        Mismatched snapshot lengths or malformed P&L rows (:func:`pnl_as_of`).
    """
    ts = np.asarray(ts_ms, dtype=np.int64)
    eq = np.asarray(equity_usd, dtype=np.float64)
    if ts.shape != eq.shape:
        raise ValueError(f"ts_ms {ts.shape} and equity_usd {eq.shape} differ")
    close = day_close_indices(ts)
    pnl_close = pnl_as_of(ts[close], pnl)
    result: FloatArray = np.diff(pnl_close) / eq[close][:-1]
    return result
