"""``zerobeta report``: a run's neutrality, performance, P&L per stream / strategy / venue /
leg, funding per venue and symbol, and its trade list, from the journal alone.

:func:`build_run_report` composes the ex-post neutrality report
(:mod:`agent.reporting.neutrality_report`, unchanged), the performance statistics of the equity
snapshots (:func:`agent.reporting.analysis.performance_stats`, the same figures as
``zerobeta summary``) and what the ledger rebuilt from the journal says
(:mod:`agent.reporting.run_ledger`): the P&L breakdown down to each leg
(:mod:`agent.reporting.pnl_breakdown`), the funding each perp paid or earned, and each pair's
round trips (:mod:`agent.reporting.trades`). The journal is only read (SQLite ``mode=ro``).

:func:`run_report_to_dict` is the ``--json`` output: the neutrality report's keys as before,
plus ``performance``, ``equity``, ``pnl``, ``funding`` and ``trades`` (USD amounts as exact
decimal strings, NaN as ``null``); the tearsheet (:mod:`agent.reporting.tearsheet`) renders
this very dict. :func:`format_run_report` is the text output.

Errors: :class:`~agent.errors.JournalError` (unreadable journal, malformed snapshots) and
:class:`~agent.errors.AgentError` (the ledger does not reproduce the last equity snapshot).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from decimal import Decimal
from pathlib import Path

from agent.errors import JournalError
from agent.reporting.analysis import PerformanceStats, performance_stats
from agent.reporting.neutrality_report import (
    NeutralityReport,
    build_neutrality_report,
    format_neutrality_report,
    neutrality_report_to_dict,
)
from agent.reporting.pnl_breakdown import (
    PnlBreakdown,
    format_pnl_tables,
    pnl_breakdown,
    usd_text,
)
from agent.reporting.run_ledger import RunLedger, read_run_ledger
from agent.reporting.strategy_returns import read_journal_series
from agent.reporting.trades import StrategyTrades, trade_list
from venues.model import InstrumentId

NO_LEDGER = "no run metadata (initial cash) in the journal: the ledger cannot be rebuilt"


@dataclass(frozen=True, slots=True)
class InstrumentFunding:
    """Funding payments of one perp over the run (the account's, all strategies).

    ``received_usd`` (>= 0) and ``paid_usd`` (<= 0) sum the payments of each sign,
    ``net_usd`` all of them, USD, exact; ``payments`` counts them.
    """

    venue: str
    symbol: str
    instrument: str
    payments: int
    received_usd: Decimal
    paid_usd: Decimal
    net_usd: Decimal


@dataclass(frozen=True, slots=True)
class LedgerFigures:
    """What the ledger rebuilt from the journal says about a run.

    Attributes
    ----------
    initial_equity_usd, final_equity_usd : Decimal
        Σ initial cash, and cash + positions at the marks, USD.
    valued_at : str
        ``"final marks"`` (a finished run) or ``"last fill reference prices"`` (a run still
        going: the journal holds no marks yet).
    pnl : PnlBreakdown
        By stream, strategy, venue and leg.
    funding : tuple[InstrumentFunding, ...]
        Per perp that had a payment, sorted by venue then symbol.
    trades : Mapping[str, StrategyTrades]
        Per strategy: pairs and their round trips.
    """

    initial_equity_usd: Decimal
    final_equity_usd: Decimal
    valued_at: str
    pnl: PnlBreakdown
    funding: tuple[InstrumentFunding, ...]
    trades: Mapping[str, StrategyTrades]


@dataclass(frozen=True, slots=True)
class RunReport:
    """``zerobeta report``: neutrality, performance and (with run metadata) the ledger's
    figures; ``ledger`` is None, with ``ledger_reason``, for a journal without run metadata."""

    neutrality: NeutralityReport
    performance: PerformanceStats
    ledger: LedgerFigures | None
    ledger_reason: str | None = None


def build_run_report(journal_path: Path) -> RunReport:
    """The report of the run journaled at ``journal_path`` (read-only).

    Raises
    ------
    JournalError
        Unreadable journal, not a zerobeta journal, newer schema, malformed snapshots.
    AgentError
        The rebuilt ledger does not reproduce a finished run's last equity snapshot.
    """
    neutrality = build_neutrality_report(journal_path)
    series = read_journal_series(journal_path)
    try:
        performance = performance_stats(series.ts_ms, series.equity_usd, series.btc_price_usd)
    except ValueError as err:
        raise JournalError(f"malformed snapshots: {err}", path=str(journal_path)) from err
    ledger = read_run_ledger(journal_path)
    if ledger is None:
        return RunReport(neutrality, performance, None, NO_LEDGER)
    return RunReport(neutrality, performance, ledger_figures(ledger))


def ledger_figures(ledger: RunLedger) -> LedgerFigures:
    """P&L breakdown, funding per perp and trade list of a rebuilt ledger."""
    portfolio = ledger.portfolio
    return LedgerFigures(
        initial_equity_usd=portfolio.initial_equity_usd,
        final_equity_usd=portfolio.equity_usd(),
        valued_at="final marks" if ledger.final_marks else "last fill reference prices",
        pnl=pnl_breakdown(portfolio),
        funding=_funding(ledger),
        trades=trade_list(ledger),
    )


def _funding(ledger: RunLedger) -> tuple[InstrumentFunding, ...]:
    sums: dict[InstrumentId, list[Decimal]] = {}  # received, paid
    counts: dict[InstrumentId, int] = {}
    for _, payment in ledger.funding_payments:
        iid = payment.instrument_id
        pair = sums.setdefault(iid, [Decimal(0), Decimal(0)])
        pair[0 if payment.amount_usd > 0 else 1] += payment.amount_usd
        counts[iid] = counts.get(iid, 0) + 1
    rows = [
        InstrumentFunding(
            iid.venue, iid.symbol, str(iid), counts[iid], received, paid, received + paid
        )
        for iid, (received, paid) in sums.items()
    ]
    return tuple(sorted(rows, key=lambda r: (r.venue, r.symbol)))


# ---------------------------------------------------------------------------------------------
# JSON


def _jsonable(value: object) -> object:
    """Decimal → str, non-finite float → None, dataclass/Mapping → dict, tuple → list."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def run_report_to_dict(report: RunReport) -> dict[str, object]:
    """JSON-ready dict of a report (``zerobeta report --json``).

    The keys of :func:`neutrality_report_to_dict`, plus ``performance``
    (:class:`PerformanceStats`) and, from the ledger (``null`` without run metadata, with
    ``ledger_reason``): ``equity`` (initial, final, valued_at), ``pnl`` (``total_usd``,
    ``by_strategy_usd``, ``by_venue_usd``, ``by_leg_usd`` as strategy → instrument →
    streams), ``funding`` (instrument → :class:`InstrumentFunding`) and ``trades``
    (strategy → pairs with their round trips, ``funding_outside_trips_usd``). Decimals are
    strings (exact), NaN/inf ``null``, tuples lists.

    Returns
    -------
    dict[str, object]
        Serializable with ``json.dumps(..., allow_nan=False)``.
    """
    result = neutrality_report_to_dict(report.neutrality)
    result["performance"] = _jsonable(report.performance)
    ledger = report.ledger
    result["ledger_reason"] = report.ledger_reason
    if ledger is None:
        result.update(equity=None, pnl=None, funding=None, trades=None)
        return result
    result["equity"] = {
        "initial_equity_usd": str(ledger.initial_equity_usd),
        "final_equity_usd": str(ledger.final_equity_usd),
        "valued_at": ledger.valued_at,
    }
    result["pnl"] = _jsonable(ledger.pnl)
    result["funding"] = {f.instrument: _jsonable(f) for f in ledger.funding}
    result["trades"] = _jsonable(ledger.trades)
    return result


# ---------------------------------------------------------------------------------------------
# Text


def _funding_lines(funding: tuple[InstrumentFunding, ...]) -> list[str]:
    head = "funding per venue and symbol (USD, received positive; all strategies)"
    if not funding:
        return [head, "  no funding payments"]
    width = max(len(f"{f.venue} {f.symbol}") for f in funding)
    return [head] + [
        f"  {f'{f.venue} {f.symbol}':<{width}}  {f.payments:>6} payments  "
        f"received {usd_text(f.received_usd):>10}  paid {usd_text(f.paid_usd):>10}  "
        f"net {usd_text(f.net_usd):>10}"
        for f in funding
    ]


def _trade_lines(trades: Mapping[str, StrategyTrades]) -> list[str]:
    """One line per pair: trips (open), wins among the closed, and the trips' P&L."""
    lines = ["trades per pair (round trips flat to flat; --html lists each trip)"]
    for strategy, of in trades.items():
        lines.append(f"  {strategy}")
        width = max((len(p.label) for p in of.pairs), default=0)
        for p in of.pairs:
            closed = [t for t in p.trips if t.closed_ms is not None]
            wins = sum(1 for t in closed if t.total_usd > 0)
            lines.append(
                f"    {p.label:<{width}}  {len(p.trips):>4} trips ({len(p.trips) - len(closed)}"
                f" open), {wins}/{len(closed)} won  P&L {usd_text(p.total_usd):>10} USD"
            )
        if of.funding_outside_trips_usd:
            lines.append(f"    funding outside trips  {usd_text(of.funding_outside_trips_usd)} USD")
    return lines


def format_run_report(report: RunReport) -> str:
    """Render a report as aligned plain text: the neutrality report, then the P&L tables
    (by stream / strategy / venue, per leg), funding per perp and the pairs' trade summary.
    No trailing newline."""
    sections = [format_neutrality_report(report.neutrality)]
    ledger = report.ledger
    if ledger is None:
        sections.append(f"P&L\n  n/a: {report.ledger_reason}")
        return "\n\n".join(sections)
    note = f"open positions valued at {ledger.valued_at}"
    sections += [
        "\n".join([*format_pnl_tables(ledger.pnl), f"  ({note})"]),
        "\n".join(_funding_lines(ledger.funding)),
        "\n".join(_trade_lines(ledger.trades)),
    ]
    return "\n\n".join(sections)
