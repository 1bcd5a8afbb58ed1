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
        add, subtract = _TOTAL_CONTEXT.add, _TOTAL_CONTEXT.subtract  # no context switch
        total = add(add(self.price_spot_usd, self.price_perp_usd), self.funding_usd)
        total = subtract(subtract(total, self.fees_usd), self.slippage_usd)
        object.__setattr__(self, "total_usd", total)  # frozen: set once, here


_TOTAL_CONTEXT = EXACT_CONTEXT.copy()
"""The ledger's exact context, for :class:`PnlStreams` totals (a copy: its flags are its own)."""


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
        _add_lots(cells, lots.items(), marks, where)
        _add_flows(cells, flows.items(), where)
    return cells


def _add_lots(
    cells: dict[tuple[str, _Where], Cell],
    lots: Iterable[tuple[InstrumentId, Mapping[str, Lot]]],
    marks: Mapping[InstrumentId, Decimal],
    where: Callable[[InstrumentId], _Where],
) -> None:
    """Add the price streams of ``lots`` (per instrument, per strategy) at ``marks`` to
    ``cells`` (call inside the ledger's context)."""
    for iid, holders in lots:
        mark = marks[iid]
        price_index = 1 if iid.kind is InstrumentKind.PERP else 0
        at = where(iid)
        for strategy, lot in holders.items():
            cell = cells.get((strategy, at))
            if cell is None:
                cell = cells[(strategy, at)] = [ZERO] * 7
            realized = lot.realized_usd
            unrealized = lot.qty * mark - lot.basis_usd
            cell[price_index] += realized + unrealized
            cell[5] += realized
            cell[6] += unrealized


def _add_flows(
    cells: dict[tuple[str, _Where], Cell],
    flows: Iterable[tuple[Leg, Flows]],
    where: Callable[[InstrumentId], _Where],
) -> None:
    """Add the non-price streams of ``flows`` (per leg) to ``cells`` (call inside the ledger's
    context)."""
    for (strategy, iid), flow in flows:
        key = (strategy, where(iid))
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [ZERO] * 7
        cell[2] += flow.funding_usd
        cell[3] += flow.fees_usd
        cell[4] += flow.slippage_usd


class VenueCells:
    """:func:`pnl_cells` for a ledger that asks at every snapshot, with the closed
    instruments' part kept between calls.

    An instrument in which every lot is flat (qty 0) carries only realized P&L and the flows
    its legs booked: nothing marks it while no one holds it, and only a trade changes a lot or
    a leg's fees and slippage, so its part of the cells stays what it was until the next trade
    (``trades``: :attr:`~agent.portfolio.positions.PositionBook.trades`), a new mark object
    for it, a new leg, or new funding on one of its legs (a payment the ledger could not
    attribute). That part is summed once and kept — at the second call after a trade: the
    call right after one sums everything, so a ledger that trades every step does not sort its
    instruments at every call for nothing — and each call copies it and adds the instruments
    with an open lot: their lots, and their legs' flows summed per cell (:class:`_FlowSums`:
    fees and slippage once per trade, funding again when it changed). Every sum is exact (the
    ledger's 150-digit context, bounded inputs: :mod:`agent.portfolio.exact`), so the grouping
    changes neither a value nor its exponent: the cells equal :func:`pnl_cells`'s, digit for
    digit.
    """

    __slots__ = (
        "_closed_cells",
        "_closed_funding",
        "_closed_marks",
        "_legs",
        "_open_flows",
        "_open_lots",
        "_trades",
    )

    def __init__(self) -> None:
        self._trades = -1
        self._legs = -1
        self._closed_marks: dict[InstrumentId, Decimal] = {}
        self._closed_funding: list[tuple[Flows, Decimal]] = []
        self._closed_cells: dict[tuple[str, str], Cell] = {}
        self._open_lots: list[tuple[InstrumentId, Mapping[str, Lot]]] = []
        self._open_flows: dict[tuple[str, str], _FlowSums] = {}

    def cells(
        self,
        lots: Mapping[InstrumentId, Mapping[str, Lot]],
        flows: Mapping[Leg, Flows],
        marks: Mapping[InstrumentId, Decimal],
        trades: int,
    ) -> dict[tuple[str, str], Cell]:
        """:func:`pnl_cells` of ``lots``, ``flows`` and ``marks`` (the book's, after
        ``trades`` trades: lots change only with it)."""
        if trades != self._trades:  # a trade since the last call: sum it all, keep nothing
            self._trades = trades
            self._legs = -1  # split at the next call without a trade in between
            return _cells(lots, flows, marks, _venue)
        if (
            len(flows) != self._legs
            or any(marks[iid] is not mark for iid, mark in self._closed_marks.items())
            or any(flow.funding_usd is not funding for flow, funding in self._closed_funding)
        ):
            self._split(lots, flows, marks)
        cells = {key: cell.copy() for key, cell in self._closed_cells.items()}
        with localcontext(EXACT_CONTEXT):
            _add_lots(cells, self._open_lots, marks, _venue)
            for key, sums in self._open_flows.items():
                cell = cells.get(key)
                if cell is None:
                    cell = cells[key] = [ZERO] * 7
                cell[2] += sums.funding()
                cell[3] += sums.fees_usd
                cell[4] += sums.slippage_usd
        return cells

    def _split(
        self,
        lots: Mapping[InstrumentId, Mapping[str, Lot]],
        flows: Mapping[Leg, Flows],
        marks: Mapping[InstrumentId, Decimal],
    ) -> None:
        """Sort the instruments into closed and open and sum the closed ones' part."""
        open_ids = {i for i, h in lots.items() if any(lot.qty != 0 for lot in h.values())}
        closed_lots = [(i, h) for i, h in lots.items() if i not in open_ids]
        closed_flows = [(leg, f) for leg, f in flows.items() if leg[1] not in open_ids]
        self._open_lots = [(i, h) for i, h in lots.items() if i in open_ids]
        by_cell: dict[tuple[str, str], list[Flows]] = {}
        for (strategy, iid), flow in flows.items():
            if iid in open_ids:
                by_cell.setdefault((strategy, iid.venue), []).append(flow)
        self._open_flows = {key: _FlowSums(legs) for key, legs in by_cell.items()}
        self._closed_marks = {iid: marks[iid] for iid, _ in closed_lots}
        self._closed_funding = [(f, f.funding_usd) for _, f in closed_flows]
        self._closed_cells = {}
        with localcontext(EXACT_CONTEXT):
            _add_lots(self._closed_cells, closed_lots, marks, _venue)
            _add_flows(self._closed_cells, closed_flows, _venue)
        self._legs = len(flows)


class _FlowSums:
    """The flows of one cell's legs on open instruments (:class:`VenueCells`), summed: fees
    and slippage once (only a trade changes them, and a trade makes the cells sort their
    instruments again), funding again only when a leg's funding changed (by its object: a
    booking replaces it)."""

    __slots__ = ("_funding_usd", "_fundings", "_legs", "fees_usd", "slippage_usd")

    def __init__(self, legs: list[Flows]) -> None:
        self._legs = legs
        self._fundings: list[Decimal] = []
        self._funding_usd = ZERO
        with localcontext(EXACT_CONTEXT):
            self.fees_usd = sum((leg.fees_usd for leg in legs), ZERO)
            self.slippage_usd = sum((leg.slippage_usd for leg in legs), ZERO)
        self.funding()

    def funding(self) -> Decimal:
        """Σ funding of the legs, USD (call inside the ledger's context)."""
        fundings = [leg.funding_usd for leg in self._legs]
        if len(fundings) != len(self._fundings) or any(
            now is not then for now, then in zip(fundings, self._fundings, strict=True)
        ):
            with localcontext(EXACT_CONTEXT):
                self._funding_usd = sum(fundings, ZERO)
            self._fundings = fundings
        return self._funding_usd


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


_ZEROS: Cell = [ZERO] * 7
"""An empty cell (read-only use)."""


def compute_pnl(cells: Mapping[tuple[str, str], Cell], venues: Iterable[str]) -> PnlReport:
    """Sum ``cells`` (per strategy and venue) into totals and per-strategy and per-venue
    breakdowns; every venue in ``venues`` (the cash accounts) appears in ``by_venue``."""
    with localcontext(EXACT_CONTEXT):
        by_strategy: dict[str, Cell] = {}
        by_venue: dict[str, Cell] = {v: [ZERO] * 7 for v in venues}
        total: Cell = [ZERO] * 7
        for (strategy, venue), cell in sorted(cells.items()):
            of_strategy = by_strategy.get(strategy, _ZEROS)
            of_venue = by_venue.get(venue, _ZEROS)
            by_strategy[strategy] = [a + b for a, b in zip(of_strategy, cell, strict=True)]
            by_venue[venue] = [a + b for a, b in zip(of_venue, cell, strict=True)]
            total = [a + b for a, b in zip(total, cell, strict=True)]
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
