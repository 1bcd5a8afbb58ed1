"""P&L of a run broken down by stream, strategy, venue and leg, as the ledger attributes it.

A *leg* is one instrument a strategy traded or was paid funding on (``(strategy,
instrument)``, :meth:`agent.portfolio.ledger.Portfolio.pnl_by_leg`): its price P&L is the
realized + unrealized P&L of the strategy's lot in that instrument at reference-price basis,
its fees and slippage those of its fills, its funding the strategy's shares of the
instrument's payments. The ledger sums the same leg cells into the strategy totals, so for
every strategy and stream the legs add up to the strategy's P&L exactly (Decimal equality),
and the strategies to the portfolio's.

Streams are *signed* here, as the summary prints them: costs negative, so the columns of a
row add up to its ``total_usd`` (:func:`signed_streams`). All amounts are exact ``Decimal``
USD. :func:`format_pnl_tables` renders the fixed-width text tables of ``zerobeta report``
and ``zerobeta summary``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from agent.portfolio.ledger import PnlStreams, Portfolio, ledger_context
from agent.reporting.analysis import PNL_STREAMS

SignedStreams = Mapping[str, Decimal]
"""P&L by stream (:data:`agent.reporting.analysis.PNL_STREAMS`), costs negative, USD."""


@dataclass(frozen=True, slots=True)
class PnlBreakdown:
    """Whole-run P&L of a ledger by stream, strategy, venue and leg (signed streams, USD).

    Attributes
    ----------
    total_usd : SignedStreams
        The portfolio's P&L by stream.
    by_strategy_usd : Mapping[str, SignedStreams]
        Per strategy (``"unattributed"`` holds funding no position explains), sorted.
    by_venue_usd : Mapping[str, SignedStreams]
        Per venue cash account, sorted.
    by_leg_usd : Mapping[str, Mapping[str, SignedStreams]]
        Per strategy, per instrument id (``venue:kind:SYMBOL``), both sorted; each
        strategy's legs sum to its ``by_strategy_usd`` row exactly, stream by stream.
    """

    total_usd: SignedStreams
    by_strategy_usd: Mapping[str, SignedStreams]
    by_venue_usd: Mapping[str, SignedStreams]
    by_leg_usd: Mapping[str, Mapping[str, SignedStreams]]


def signed_streams(streams: PnlStreams) -> dict[str, Decimal]:
    """The streams of :data:`PNL_STREAMS` with costs (fees, slippage) negative, USD, so they
    add up to ``total_usd``."""
    return {
        "price_spot_usd": streams.price_spot_usd,
        "price_perp_usd": streams.price_perp_usd,
        "funding_usd": streams.funding_usd,
        "fees_usd": -streams.fees_usd,
        "slippage_usd": -streams.slippage_usd,
        "total_usd": streams.total_usd,
    }


def pnl_breakdown(portfolio: Portfolio) -> PnlBreakdown:
    """The P&L of ``portfolio`` at its current marks, by stream, strategy, venue and leg."""
    report = portfolio.pnl()
    legs = portfolio.pnl_by_leg()
    return PnlBreakdown(
        total_usd=signed_streams(report),
        by_strategy_usd={k: signed_streams(v) for k, v in sorted(report.by_strategy.items())},
        by_venue_usd={k: signed_streams(v) for k, v in sorted(report.by_venue.items())},
        by_leg_usd={
            s: {str(iid): signed_streams(v) for iid, v in sorted(of.items())}
            for s, of in sorted(legs.items())
        },
    )


def sum_streams(rows: Mapping[str, SignedStreams]) -> dict[str, Decimal]:
    """Stream-wise sum of ``rows`` in the ledger's exact context, USD (zeros when empty)."""
    total = dict.fromkeys(PNL_STREAMS, Decimal(0))
    with ledger_context():
        for row in rows.values():
            for stream in PNL_STREAMS:
                total[stream] += row[stream]
    return total


# ---------------------------------------------------------------------------------------------
# Text


def usd_text(amount: Decimal) -> str:
    """``1234.5`` → ``1,234.50``; never prints ``-0.00``."""
    text = f"{amount:,.2f}"
    return text[1:] if text == "-0.00" else text


def _table(title: str, rows: list[tuple[str, SignedStreams]]) -> list[str]:
    """Fixed-width table: a name column, one column per stream (USD, 2 decimals)."""
    headers = [c.removesuffix("_usd").replace("_", " ") for c in PNL_STREAMS]
    cells = [[usd_text(row[c]) for c in PNL_STREAMS] for _, row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    names = [title, *(name for name, _ in rows)]
    name_w = max(len(name) for name in names)
    return [
        name.ljust(name_w) + "".join(f"  {c:>{w}}" for c, w in zip(line, widths, strict=True))
        for name, line in zip(names, [headers, *cells], strict=True)
    ]


def format_leg_table(by_leg_usd: Mapping[str, Mapping[str, SignedStreams]]) -> list[str]:
    """Text lines of the per-leg table: per strategy, one row per instrument then the
    strategy's total (the legs' sum, which is the strategy's P&L)."""
    rows: list[tuple[str, SignedStreams]] = []
    for strategy, legs in by_leg_usd.items():
        rows += [(f"{strategy}  {iid}", row) for iid, row in legs.items()]
        rows.append((f"{strategy}  = total", sum_streams(legs)))
    if not rows:
        return ["P&L per leg (USD)", "  no legs: nothing traded"]
    return _table("P&L per leg (USD)", rows)


def format_pnl_tables(breakdown: PnlBreakdown) -> list[str]:
    """Text lines: the P&L table by total / strategy / venue, a blank line, the leg table."""
    rows: list[tuple[str, SignedStreams]] = [("total", breakdown.total_usd)]
    rows += [(f"strategy {k}", v) for k, v in breakdown.by_strategy_usd.items()]
    rows += [(f"venue {k}", v) for k, v in breakdown.by_venue_usd.items()]
    return [*_table("P&L (USD)", rows), "", *format_leg_table(breakdown.by_leg_usd)]
