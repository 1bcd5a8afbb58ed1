"""The ledger's records and its P&L aggregation (:mod:`agent.portfolio.ledger`).

The records :class:`agent.portfolio.ledger.Portfolio` hands out: :class:`PnlStreams` (P&L by
stream, with ``total_usd = price_spot + price_perp + funding − fees − slippage``),
:class:`PnlReport` (totals plus per-strategy and per-venue breakdowns),
:class:`FundingDiscrepancy` and :class:`PortfolioSnapshot`; and the aggregation behind
``Portfolio.pnl()``: price P&L of each open lot at reference-price basis (realized +
``qty × mark − basis``) and its non-price flows (fees, slippage, funding), collected per
leg — (strategy, instrument) — and summed in the ledger's exact context into the strategy,
venue and portfolio totals; the legs of a strategy add up to its P&L exactly
(:func:`leg_streams`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from types import MappingProxyType
from typing import TypeVar

from agent.portfolio.exact import EXACT_CONTEXT, ZERO, Lot
from venues.model import InstrumentId, InstrumentKind


@dataclass(frozen=True, slots=True)
class PnlStreams:
    """P&L by stream, USD. Costs (fees, slippage) are positive numbers.

    Attributes
    ----------
    price_spot_usd, price_perp_usd : Decimal
        Realized + unrealized price P&L of spot / perp positions at reference-price basis.
    funding_usd : Decimal
        Funding, positive when received.
    fees_usd : Decimal
        Trading fees, positive when paid (maker rebates reduce it).
    slippage_usd : Decimal
        Fill price versus reference price, positive when adverse.
    realized_usd, unrealized_usd : Decimal
        Split of ``price_spot_usd + price_perp_usd``.
    total_usd : Decimal
        ``price_spot + price_perp + funding − fees − slippage``, computed (not an argument).
    """

    price_spot_usd: Decimal
    price_perp_usd: Decimal
    funding_usd: Decimal
    fees_usd: Decimal
    slippage_usd: Decimal
    realized_usd: Decimal
    unrealized_usd: Decimal
    total_usd: Decimal = field(init=False)

    def __post_init__(self) -> None:
        with localcontext(EXACT_CONTEXT):
            total = (
                self.price_spot_usd
                + self.price_perp_usd
                + self.funding_usd
                - self.fees_usd
                - self.slippage_usd
            )
        object.__setattr__(self, "total_usd", total)  # frozen: set once, here


@dataclass(frozen=True, slots=True)
class PnlReport(PnlStreams):
    """Portfolio P&L: the totals (inherited fields) plus breakdowns.

    Attributes
    ----------
    by_strategy : Mapping[str, PnlStreams]
        Per strategy (``"unattributed"`` holds funding no position explains).
    by_venue : Mapping[str, PnlStreams]
        Per venue, every venue with a cash account included. Both breakdowns sum to the
        totals exactly. Both are read-only (the report is cached and shared).
    """

    by_strategy: Mapping[str, PnlStreams] = field(default_factory=dict)
    by_venue: Mapping[str, PnlStreams] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FundingDiscrepancy:
    """Funding the ledger could not attribute to a strategy's position.

    Attributes
    ----------
    instrument_id : InstrumentId
    ts_funding_ms : int
        Settlement time, epoch ms UTC.
    ledger_qty : Decimal
        Net position the ledger holds, base units.
    venue_qty : Decimal
        ``payment.position_qty``, base units.
    residual_usd : Decimal
        ``amount_usd − Σ strategy shares``, booked to ``"unattributed"``, USD.
    """

    instrument_id: InstrumentId
    ts_funding_ms: int
    ledger_qty: Decimal
    venue_qty: Decimal
    residual_usd: Decimal


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    """What the journal stores per equity snapshot (all USD, Decimal)."""

    equity_usd: Decimal
    initial_equity_usd: Decimal
    pnl: PnlReport
    gross_notional_usd: Decimal
    net_delta_usd: Decimal


@dataclass(slots=True)
class Flows:
    """Non-price streams of one leg (strategy, instrument), USD."""

    fees_usd: Decimal = ZERO
    slippage_usd: Decimal = ZERO
    funding_usd: Decimal = ZERO


# Cell layout used while aggregating P&L: spot, perp, funding, fees, slippage, realized, unrealized.
Cell = list[Decimal]
Leg = tuple[str, InstrumentId]
"""One leg of the ledger: (strategy, instrument)."""


_Where = TypeVar("_Where", bound=str)


def _venue(instrument_id: InstrumentId) -> str:
    return instrument_id.venue


def _instrument(instrument_id: InstrumentId) -> InstrumentId:
    return instrument_id


def _cells(
    lots: Mapping[InstrumentId, Mapping[str, Lot]],
    flows: Mapping[Leg, Flows],
    marks: Mapping[InstrumentId, Decimal],
    where: Callable[[InstrumentId], _Where],
) -> dict[tuple[str, _Where], Cell]:
    """Stream values per (strategy, ``where(instrument)``) in the ``Cell`` layout."""
    cells: dict[tuple[str, _Where], Cell] = {}
    with localcontext(EXACT_CONTEXT):
        for iid, holders in lots.items():
            mark = marks[iid]
            price_index = 1 if iid.kind is InstrumentKind.PERP else 0
            for strategy, lot in holders.items():
                cell = cells.setdefault((strategy, where(iid)), [ZERO] * 7)
                unrealized = lot.qty * mark - lot.basis_usd
                cell[price_index] += lot.realized_usd + unrealized
                cell[5] += lot.realized_usd
                cell[6] += unrealized
        for (strategy, iid), flow in flows.items():
            cell = cells.setdefault((strategy, where(iid)), [ZERO] * 7)
            cell[2] += flow.funding_usd
            cell[3] += flow.fees_usd
            cell[4] += flow.slippage_usd
    return cells


def pnl_cells(
    lots: Mapping[InstrumentId, Mapping[str, Lot]],
    flows: Mapping[Leg, Flows],
    marks: Mapping[InstrumentId, Decimal],
) -> dict[tuple[str, str], Cell]:
    """Stream values per (strategy, venue) in the ``Cell`` layout: the legs' lots and flows,
    summed per venue (fewer cells for :func:`compute_pnl`, which runs at every snapshot)."""
    return _cells(lots, flows, marks, _venue)


def leg_cells(
    lots: Mapping[InstrumentId, Mapping[str, Lot]],
    flows: Mapping[Leg, Flows],
    marks: Mapping[InstrumentId, Decimal],
) -> dict[Leg, Cell]:
    """Stream values per leg (strategy, instrument) in the ``Cell`` layout."""
    return _cells(lots, flows, marks, _instrument)


def compute_pnl(cells: Mapping[tuple[str, str], Cell], venues: Iterable[str]) -> PnlReport:
    """Sum ``cells`` (per strategy and venue) into totals and per-strategy and per-venue
    breakdowns; every venue in ``venues`` (the cash accounts) appears in ``by_venue``."""
    with localcontext(EXACT_CONTEXT):
        by_strategy: dict[str, Cell] = {}
        by_venue: dict[str, Cell] = {v: [ZERO] * 7 for v in venues}
        total: Cell = [ZERO] * 7
        for (strategy, venue), cell in sorted(cells.items()):
            of_strategy = by_strategy.setdefault(strategy, [ZERO] * 7)
            of_venue = by_venue.setdefault(venue, [ZERO] * 7)
            for i, value in enumerate(cell):
                of_strategy[i] += value
                of_venue[i] += value
                total[i] += value
    return PnlReport(
        price_spot_usd=total[0],
        price_perp_usd=total[1],
        funding_usd=total[2],
        fees_usd=total[3],
        slippage_usd=total[4],
        realized_usd=total[5],
        unrealized_usd=total[6],
        by_strategy=MappingProxyType({s: _streams(c) for s, c in by_strategy.items()}),
        by_venue=MappingProxyType({v: _streams(c) for v, c in sorted(by_venue.items())}),
    )


def leg_streams(cells: Mapping[Leg, Cell]) -> dict[str, dict[InstrumentId, PnlStreams]]:
    """P&L streams of each leg (:func:`leg_cells`), per strategy then instrument, both sorted.

    The legs hold the same lots and flows :func:`pnl_cells` adds up per venue, and every sum
    is exact (150-digit context, inputs of at most 40 decimal places), so a strategy's legs
    add up to its ``by_strategy`` row exactly, stream by stream."""
    result: dict[str, dict[InstrumentId, PnlStreams]] = {}
    for (strategy, iid), cell in sorted(cells.items()):
        result.setdefault(strategy, {})[iid] = _streams(cell)
    return result


def _streams(cell: Cell) -> PnlStreams:
    return PnlStreams(cell[0], cell[1], cell[2], cell[3], cell[4], cell[5], cell[6])
