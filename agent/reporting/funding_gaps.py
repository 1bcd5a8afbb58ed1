"""Funding gaps of a live run: each venue payment against the expected −rate × position × mark.

Read from the journal's ``funding_reconciliation`` table (written by
:mod:`agent.engine.funding_reconcile`, live runs only: a replay or paper run has none) and
summarized per instrument: how many settlements were reconciled, the sum of the gaps
(``paid − expected``, USD) and the worst one (largest ``|gap_usd|``). A journal of schema
version 1 has no such table and reads as no gaps.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class FundingGapStats:
    """Reconciled funding settlements of one perp.

    Attributes
    ----------
    instrument : str
        Instrument id (``venue:perp:SYMBOL``).
    count : int
        Settlements reconciled.
    sum_gap_usd : Decimal
        Sum of ``paid − expected``, USD (positive: the venue paid more than expected).
    worst_gap_usd : Decimal
        The gap of largest magnitude, USD.
    worst_gap_bps : float or None
        That gap over the position's notional, bps (None when the ledger was flat).
    worst_ts_funding_ms : int
        Settlement time of the worst gap, epoch ms UTC.
    """

    instrument: str
    count: int
    sum_gap_usd: Decimal
    worst_gap_usd: Decimal
    worst_gap_bps: float | None
    worst_ts_funding_ms: int


def read_funding_gaps(conn: sqlite3.Connection) -> tuple[FundingGapStats, ...]:
    """Per-instrument gap statistics, sorted by instrument (empty without the table)."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "funding_reconciliation" not in tables:
        return ()
    rows: dict[str, list[tuple[int, Decimal, float | None]]] = {}
    sql = "SELECT instrument, ts_funding_ms, gap_usd, gap_bps FROM funding_reconciliation"
    for instrument, ts_funding_ms, gap, gap_bps in conn.execute(sql + " ORDER BY id"):
        rows.setdefault(instrument, []).append((ts_funding_ms, Decimal(gap), gap_bps))
    stats = []
    for instrument, gaps in sorted(rows.items()):
        worst = max(gaps, key=lambda g: abs(g[1]))
        stats.append(
            FundingGapStats(
                instrument=instrument,
                count=len(gaps),
                sum_gap_usd=sum((g[1] for g in gaps), Decimal(0)),
                worst_gap_usd=worst[1],
                worst_gap_bps=worst[2],
                worst_ts_funding_ms=worst[0],
            )
        )
    return tuple(stats)


def format_funding_gaps(stats: tuple[FundingGapStats, ...]) -> list[str]:
    """Text lines: a header and one row per instrument (a note when there are none)."""
    head = "funding gaps (venue paid − expected −rate × position × mark, live runs)"
    if not stats:
        return [head, "  none reconciled (a replay or paper run reconciles nothing)"]
    lines = [head]
    width = max(len(s.instrument) for s in stats)
    for s in stats:
        bps = "n/a" if s.worst_gap_bps is None else f"{s.worst_gap_bps:+.2f} bps"
        lines.append(
            f"  {s.instrument.ljust(width)}  {s.count:>5} settlements  "
            f"sum {s.sum_gap_usd:+.6f} USD  worst {s.worst_gap_usd:+.6f} USD ({bps}) "
            f"at {s.worst_ts_funding_ms}"
        )
    return lines
