"""Build a finished run's summary from its journal alone.

``zerobeta run`` and ``zerobeta summary`` both call :func:`build_summary`, so the printed
figures always come from what was journaled: the ledger is rebuilt from the journaled fills and
funding payments (``Portfolio.replay``) and marked at the run's final marks (its P&L by
stream, strategy, venue and leg: :mod:`agent.reporting.pnl_breakdown`), and the statistics
come from the equity snapshots (their times, equity and BTC price: ``Journal.equity_curve``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import numpy as np

from agent.engine.resume import RESUME_KEY
from agent.errors import AgentError
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from agent.reporting.analysis import performance_stats
from agent.reporting.greeks_attribution import greeks_attribution
from agent.reporting.pnl_breakdown import pnl_breakdown
from agent.reporting.summary import LegRiskStats, RunCounts, RunSummary
from venues.model import InstrumentId


def build_summary(journal_path: Path, wall_time_s: float | None = None) -> RunSummary:
    """Summary of the run journaled at ``journal_path``.

    Raises
    ------
    AgentError
        If the journal lacks the run metadata (not a finished zerobeta run) or its ledger
        does not reproduce the last equity snapshot.
    """
    with Journal.open(journal_path) as journal:
        meta = journal.meta()
        if "initial_cash_json" not in meta:
            raise AgentError(f"{journal_path}: no run metadata; is this a zerobeta journal?")
        cash = {k: Decimal(v) for k, v in json.loads(meta["initial_cash_json"]).items()}
        marks = {
            InstrumentId.parse(k): Decimal(v)
            for k, v in json.loads(meta.get("final_marks_json", "{}")).items()
        }
        portfolio = Portfolio.replay(cash, journal.ledger_events(), marks)
        points = journal.equity_curve()
        counts = journal.counts()
        exposure = journal.pair_exposure_by_strategy()
        greeks = greeks_attribution(journal.latest_strategy_states())
    if points and portfolio.equity_usd() != points[-1].equity_usd:
        raise AgentError(
            f"{journal_path}: ledger rebuilt from fills and funding gives equity "
            f"{portfolio.equity_usd()} USD but the last snapshot says {points[-1].equity_usd} USD"
        )
    pnl = pnl_breakdown(portfolio)
    # In time order: a live run resumed after a kill re-runs a step whose time is before the
    # killed run's last mark-tick snapshot (the rows are in the order written).
    points = sorted(points, key=lambda p: p.ts_ms)
    perf = performance_stats(
        np.array([p.ts_ms for p in points], dtype=np.int64),
        np.array([float(p.equity_usd) for p in points]),
        np.array([p.btc_price if p.btc_price else np.nan for p in points]),
    )
    return RunSummary(
        ts_start_ms=int(meta.get("window_first_ms", points[0].ts_ms if points else 0)),
        ts_end_ms=points[-1].ts_ms if points else 0,
        initial_equity_usd=portfolio.initial_equity_usd,
        final_equity_usd=portfolio.equity_usd(),
        pnl_usd=pnl.total_usd,
        pnl_by_strategy_usd=pnl.by_strategy_usd,
        pnl_by_venue_usd=pnl.by_venue_usd,
        pnl_by_leg_usd=pnl.by_leg_usd,
        counts=RunCounts(
            orders=counts["orders"],
            fills=counts["fills"],
            rejected_orders=counts["rejections"],
            risk_rejections=counts["risk_events"],
            funding_payments=counts["funding_payments"],
            unresolved_orders=_unresolved_orders(meta),
        ),
        fees_paid_usd=portfolio.fees_paid_usd,
        funding_received_usd=portfolio.funding_received_usd,
        funding_paid_usd=portfolio.funding_paid_usd,
        performance=perf,
        wall_time_s=wall_time_s,
        leg_risk={
            name: LegRiskStats(
                pairs=t.pairs,
                unhedged_usd_s=t.unhedged_usd_s,
                longest_unhedged_s=t.longest_unhedged_ms / 1000,
                max_unhedged_usd=t.max_unhedged_usd,
                pairs_past_budget=t.pairs_past_budget,
                pairs_open=t.pairs_open,
            )
            for name, t in exposure.items()
        },
        greeks_attribution_usd=greeks,
    )


def _unresolved_orders(meta: Mapping[str, str]) -> int:
    """Unresolved orders in the run's last resume checkpoint (0 without one)."""
    try:
        checkpoint = json.loads(meta.get(RESUME_KEY, "{}"))
    except json.JSONDecodeError:
        return 0
    rows = checkpoint.get("unresolved_orders", []) if isinstance(checkpoint, dict) else []
    return len(rows) if isinstance(rows, list) else 0
