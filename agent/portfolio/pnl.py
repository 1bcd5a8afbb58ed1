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

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from operator import is_not
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
            _add_lot(cell, price_index, lot, mark)


def _add_lot(cell: Cell, price_index: int, lot: Lot, mark: Decimal) -> None:
    """Add one lot's realized and unrealized P&L at ``mark`` to ``cell`` (its price stream,
    ``price_index``, and the realized / unrealized columns), USD."""
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
        _add_flow(cell, flow)


def _add_flow(cell: Cell, flow: Flows) -> None:
    """Add one leg's funding, fees and slippage to ``cell``, USD."""
    cell[2] += flow.funding_usd
    cell[3] += flow.fees_usd
    cell[4] += flow.slippage_usd


class _Row:
    """One cell (strategy, venue) of :class:`VenueCells`: its kept part and what each call adds
    to it."""

    __slots__ = (
        "closed_flows",
        "closed_ids",
        "kept",
        "kept_funding",
        "kept_marks",
        "open_flows",
        "open_terms",
    )

    def __init__(self) -> None:
        self.kept: Cell = [ZERO] * 7
        # each open-instrument lot: (price stream index, qty, instrument)
        self.open_terms: list[tuple[int, Decimal, InstrumentId]] = []
        # each open-instrument leg (its funding is added at every call)
        self.open_flows: list[Flows] = []
        # what ``kept`` was summed at: the closed instruments' mark objects and the funding
        # objects of their legs (a booking or a mark replaces the object)
        self.closed_ids: list[InstrumentId] = []
        self.kept_marks: list[Decimal] = []
        self.closed_flows: list[Flows] = []
        self.kept_funding: list[Decimal] = []


class VenueCells:
    """:func:`pnl_cells` for a ledger that asks at every snapshot, with everything but the
    marks of the open lots and the funding of their legs kept between calls.

    An instrument in which every lot is flat (qty 0) carries only realized P&L and the flows
    its legs booked: nothing marks it while no one holds it, and only a trade changes a lot or
    a leg's fees and slippage, so its part of the cells stays what it was until the next trade
    in it, a new mark object for it, a new leg, or new funding on one of its legs (a payment
    the ledger could not attribute). Of an instrument with an open lot, only ``qty × mark`` of
    each lot and the funding of its legs change between trades: the lots' realized P&L and
    cost basis and the legs' fees and slippage are summed once into the kept part too. Each
    call copies the kept part of every cell and adds each open-instrument lot's ``qty × mark``
    (to its price stream and to unrealized) and the funding of each open-instrument leg
    (funding is booked most hours: added at every call, not kept).

    The kept part is summed cell by cell (strategy, venue). A trade changes only the lot it
    books and that lot's leg (``traded_at``: the trade count at each lot's last trade,
    :attr:`~agent.portfolio.positions.PositionBook.traded_at`), so the call after trades sums
    again the kept part of the cells of the lots they booked, their instruments sorted anew
    into open and closed, and keeps the other cells: their lots and legs did not change, and
    their part of an instrument that opened or closed stays valid as it was summed (a flat lot
    kept at a mark object that has not been replaced, or a lot's ``qty × mark`` added at every
    call). A new leg, a new mark object for a closed instrument of a cell or new funding on a
    closed leg sums every cell's kept part. Without ``traded_at`` (which lots changed is
    unknown), the call after a trade sums everything and the next one every cell's kept part.
    Every sum is exact (the ledger's 150-digit context, bounded inputs:
    :mod:`agent.portfolio.exact`), so the grouping changes neither a value nor its exponent
    (the exponent of an exact sum or difference is the least of its terms', ``ZERO``'s
    included): the cells equal :func:`pnl_cells`'s, digit for digit.
    """

    __slots__ = (
        "_closed_flows",
        "_closed_ids",
        "_kept_funding",
        "_kept_marks",
        "_legs",
        "_members",
        "_open_ids",
        "_rows",
        "_trades",
    )

    def __init__(self) -> None:
        self._trades = -1
        self._legs = -1  # the legs the cells were summed with; -1: sum them at the next call
        self._rows: dict[tuple[str, str], _Row] = {}
        # each cell's instruments (its lots' and legs')
        self._members: dict[tuple[str, str], dict[InstrumentId, None]] = {}
        self._open_ids: set[InstrumentId] = set()
        # every cell's closed instruments and legs and the objects it was summed at, in one
        # list each (checked at every call)
        self._closed_ids: list[InstrumentId] = []
        self._kept_marks: list[Decimal] = []
        self._closed_flows: list[Flows] = []
        self._kept_funding: list[Decimal] = []

    def cells(
        self,
        lots: Mapping[InstrumentId, Mapping[str, Lot]],
        flows: Mapping[Leg, Flows],
        marks: Mapping[InstrumentId, Decimal],
        trades: int,
        traded_at: Mapping[Leg, int] | None = None,
    ) -> dict[tuple[str, str], Cell]:
        """:func:`pnl_cells` of ``lots``, ``flows`` and ``marks`` (the book's, after
        ``trades`` trades: lots, and legs' fees and slippage, change only with it;
        ``traded_at``: the trade count at each lot's last trade, None if unknown)."""
        if trades != self._trades:
            since, self._trades = self._trades, trades
            if traded_at is None:  # which lots traded is unknown: sum it all, keep nothing
                self._legs = -1  # split at the next call without a trade in between
                return _cells(lots, flows, marks, _venue)
            if len(flows) == self._legs:  # else a new leg: every cell is summed below
                self._resum(lots, flows, marks, [leg for leg, n in traded_at.items() if n > since])
        if (
            len(flows) != self._legs
            or any(map(is_not, [marks[iid] for iid in self._closed_ids], self._kept_marks))
            or any(map(is_not, [f.funding_usd for f in self._closed_flows], self._kept_funding))
        ):
            self._split(lots, flows, marks)
        cells: dict[tuple[str, str], Cell] = {}
        with localcontext(EXACT_CONTEXT):
            for key, part in self._rows.items():
                row = part.kept[:]
                for price_index, qty, iid in part.open_terms:
                    value = qty * marks[iid]
                    row[price_index] += value
                    row[6] += value
                for flow in part.open_flows:
                    row[2] += flow.funding_usd
                cells[key] = row
        return cells

    def _split(
        self,
        lots: Mapping[InstrumentId, Mapping[str, Lot]],
        flows: Mapping[Leg, Flows],
        marks: Mapping[InstrumentId, Decimal],
    ) -> None:
        """Sort the instruments into closed and open and sum every cell's kept part."""
        members: dict[tuple[str, str], dict[InstrumentId, None]] = {}
        for iid, holders in lots.items():
            for strategy in holders:
                members.setdefault((strategy, iid.venue), {})[iid] = None
        for strategy, iid in flows:
            members.setdefault((strategy, iid.venue), {})[iid] = None
        self._members = members
        self._open_ids = {i for i, h in lots.items() if any(lot.qty != 0 for lot in h.values())}
        with localcontext(EXACT_CONTEXT):
            self._rows = {key: self._row(key, lots, flows, marks) for key in members}
        self._gather_closed()
        self._legs = len(flows)

    def _resum(
        self,
        lots: Mapping[InstrumentId, Mapping[str, Lot]],
        flows: Mapping[Leg, Flows],
        marks: Mapping[InstrumentId, Decimal],
        traded: Iterable[Leg],
    ) -> None:
        """Sum again the kept part of the cells of the ``traded`` lots (strategy, instrument),
        no new leg since the last sum (a trade adds at most a lot)."""
        touched: dict[tuple[str, str], None] = {}
        for strategy, iid in traded:
            if any(lot.qty != 0 for lot in lots[iid].values()):
                self._open_ids.add(iid)
            else:
                self._open_ids.discard(iid)
            key = (strategy, iid.venue)
            self._members.setdefault(key, {})[iid] = None  # a new lot: maybe a new cell
            touched[key] = None
        with localcontext(EXACT_CONTEXT):
            for key in touched:
                self._rows[key] = self._row(key, lots, flows, marks)
        self._gather_closed()

    def _row(
        self,
        key: tuple[str, str],
        lots: Mapping[InstrumentId, Mapping[str, Lot]],
        flows: Mapping[Leg, Flows],
        marks: Mapping[InstrumentId, Decimal],
    ) -> _Row:
        """The kept part of cell ``key`` (call inside the ledger's context)."""
        strategy = key[0]
        part = _Row()
        kept = part.kept
        for iid in self._members[key]:
            price_index = 1 if iid.kind is InstrumentKind.PERP else 0
            holders = lots.get(iid)
            lot = None if holders is None else holders.get(strategy)
            flow = flows.get((strategy, iid))
            if iid in self._open_ids:
                if lot is not None:
                    kept[price_index] += lot.realized_usd - lot.basis_usd
                    kept[5] += lot.realized_usd
                    kept[6] -= lot.basis_usd
                    part.open_terms.append((price_index, lot.qty, iid))
                if flow is not None:
                    kept[3] += flow.fees_usd
                    kept[4] += flow.slippage_usd
                    part.open_flows.append(flow)
                continue
            if lot is not None:
                mark = marks[iid]
                _add_lot(kept, price_index, lot, mark)
                part.closed_ids.append(iid)
                part.kept_marks.append(mark)
            if flow is not None:
                _add_flow(kept, flow)
                part.closed_flows.append(flow)
                part.kept_funding.append(flow.funding_usd)
        return part

    def _gather_closed(self) -> None:
        """Every cell's closed instruments and legs, and what it was summed at, in one list
        each (a cell summed earlier keeps the objects it was summed at)."""
        rows = self._rows.values()
        self._closed_ids = [iid for part in rows for iid in part.closed_ids]
        self._kept_marks = [mark for part in rows for mark in part.kept_marks]
        self._closed_flows = [flow for part in rows for flow in part.closed_flows]
        self._kept_funding = [funding for part in rows for funding in part.kept_funding]


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
    breakdowns, both sorted by name; every venue in ``venues`` (the cash accounts) appears in
    ``by_venue``, whose sums are taken at its first read (:class:`_VenueStreams`: the
    journal's snapshots never read it). Every sum starts from ``ZERO`` and is exact (the
    ledger's context), so the order of the cells changes neither a value nor its exponent."""
    with localcontext(EXACT_CONTEXT):
        by_strategy = {s: [ZERO] * 7 for s in sorted({s for s, _ in cells})}
        for (strategy, _), cell in cells.items():
            of_strategy = by_strategy[strategy]
            for i, value in enumerate(cell):
                of_strategy[i] += value
        total: Cell = [ZERO] * 7
        for row in by_strategy.values():
            for i, value in enumerate(row):
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
        by_venue=_VenueStreams(cells, venues),
    )


class _VenueStreams(Mapping[str, PnlStreams]):
    """:attr:`PnlReport.by_venue`, read-only: the streams of each venue (sorted by name),
    summed from a copy of the cells at the first read, as :func:`compute_pnl` sums its
    strategies (every snapshot builds a report; only reports read the venues)."""

    __slots__ = ("_cells", "_streams", "_venues")

    def __init__(self, cells: Mapping[tuple[str, str], Cell], venues: Iterable[str]) -> None:
        self._cells = [(venue, tuple(cell)) for (_, venue), cell in cells.items()]
        self._venues = tuple(venues)
        self._streams: dict[str, PnlStreams] | None = None

    def _summed(self) -> dict[str, PnlStreams]:
        if self._streams is None:
            by_venue = {
                v: [ZERO] * 7 for v in sorted({*self._venues, *(v for v, _ in self._cells)})
            }
            with localcontext(EXACT_CONTEXT):
                for venue, cell in self._cells:
                    of_venue = by_venue[venue]
                    for i, value in enumerate(cell):
                        of_venue[i] += value
            self._streams = {v: _streams(c) for v, c in by_venue.items()}
            self._cells = []
        return self._streams

    def __getitem__(self, venue: str) -> PnlStreams:
        return self._summed()[venue]

    def __iter__(self) -> Iterator[str]:
        return iter(self._summed())

    def __len__(self) -> int:
        return len(self._summed())

    def __repr__(self) -> str:
        return repr(self._summed())


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
