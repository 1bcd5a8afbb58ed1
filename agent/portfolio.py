"""The one ledger: positions, cash and P&L by stream, strategy and venue.

Every fill and funding payment the agent books goes through :class:`Portfolio`; everything
else (risk, execution, the journal's equity snapshots, the summary) reads it. Money is
``Decimal`` and the accounting is exact:

- cash (USD, per venue) moves by ``−side.sign × qty × price − fee_usd`` per fill and by
  ``amount_usd`` per funding payment; this is valid for spot and linear (USDT-margined) perps
  alike, a perp position simply being a signed quantity valued at its mark;
- equity = Σ cash + Σ qty × mark;
- price P&L uses the **reference price** (the price the agent saw when it decided) as cost
  basis, with average-cost accounting: realized on reduce/close/flip, unrealized =
  qty × (mark − avg_cost); slippage = side.sign × qty × (price − reference) (positive is a
  cost); fees (positive is a cost); funding (positive is received).

Then ``equity − initial_equity == price_spot + price_perp + funding − fees − slippage``
holds exactly, as Decimal, and so does its per-venue form. How exactness is kept:

- every number that enters (quantities, prices, fees, marks, initial cash) must have at most
  40 decimal places and magnitude below 1e30 (``ValueError`` otherwise; venue data has far
  fewer digits), and all arithmetic runs in a 150-digit context, so sums and products of
  them never round;
- funding amounts and shares (``Decimal(repr(rate))`` can have hundreds of places for an
  absurdly small rate) are booked at a resolution of 1e-40 USD — a no-op for real rates;
- the only division (the cost a partial close removes from the basis) is quantized to
  1e-40 USD and *moved* from the open cost basis to realized P&L, so its rounding shifts P&L
  between "realized" and "unrealized" by at most 1e-40 USD and never breaks the identity.

Positions are kept per (strategy, instrument): strategies may trade the same instrument and
the venue only sees the net, which the views aggregate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from types import MappingProxyType

from agent.errors import AccountingError
from strategies.base import PortfolioView
from venues.model import Fill, FundingPayment, InstrumentId, InstrumentKind, base_asset

UNATTRIBUTED = "unattributed"
"""Pseudo-strategy that receives funding the ledger cannot attribute to a position."""

_CTX = Context(
    prec=150, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
_MIN_EXPONENT = -40
_MAX_ADJUSTED = 29
_QUANTUM = Decimal(1).scaleb(_MIN_EXPONENT)
_ZERO = Decimal(0)


def ledger_context() -> AbstractContextManager[Context]:
    """The ledger's 150-digit decimal context, for exact arithmetic on its numbers.

    The default context rounds to 28 significant digits; compare or add ledger amounts inside
    ``with ledger_context():`` when the result must be exact.
    """
    return localcontext(_CTX)


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
        with localcontext(_CTX):
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
class _Lot:
    """Open position of one strategy in one instrument. ``basis_usd`` is the signed cost of
    the open quantity at reference prices (qty × avg_cost)."""

    qty: Decimal = _ZERO
    basis_usd: Decimal = _ZERO
    realized_usd: Decimal = _ZERO


@dataclass(slots=True)
class _Flows:
    """Non-price streams of one (strategy, venue), USD."""

    fees_usd: Decimal = _ZERO
    slippage_usd: Decimal = _ZERO
    funding_usd: Decimal = _ZERO


# Cell layout used while aggregating P&L: spot, perp, funding, fees, slippage, realized, unrealized.
_Cell = list[Decimal]


class Portfolio:
    """The single source of truth for positions, cash and P&L.

    Parameters
    ----------
    initial_cash_usd : Mapping[str, Decimal]
        Cash per venue name, USD (an off-venue reserve may be held under a name such as
        ``"reserve"``). ``initial_equity_usd`` is their sum.

    Raises
    ------
    ValueError
        If no account is given or an amount is not a finite Decimal within the ledger's digit
        bounds.
    """

    def __init__(self, initial_cash_usd: Mapping[str, Decimal]) -> None:
        if not initial_cash_usd:
            raise ValueError("initial_cash_usd must name at least one venue account")
        for venue, cash in initial_cash_usd.items():
            _check_digits(f"initial cash of {venue!r}", cash)
        self._initial_cash = dict(initial_cash_usd)
        self._cash = dict(initial_cash_usd)
        with localcontext(_CTX):
            self.initial_equity_usd: Decimal = sum(self._cash.values(), _ZERO)
        self._lots: dict[InstrumentId, dict[str, _Lot]] = {}
        self._flows: dict[tuple[str, str], _Flows] = {}
        self._marks: dict[InstrumentId, Decimal] = {}
        self._net: dict[InstrumentId, Decimal] = {}
        self._version = 0  # bumped by every booking and mark; keys the cached P&L report
        self._pnl_cache: tuple[int, PnlReport] | None = None
        self._equity_cache: tuple[int, Decimal] | None = None
        self._snapshot_cache: tuple[int, PortfolioSnapshot] | None = None
        self.fill_counts: dict[str, int] = {}
        self.fees_paid_usd = _ZERO
        self.funding_received_usd = _ZERO
        self.funding_paid_usd = _ZERO
        self.funding_discrepancies: list[FundingDiscrepancy] = []

    @property
    def initial_cash_usd(self) -> dict[str, Decimal]:
        """Initial cash per venue account, USD (a copy; journal it to allow a replay)."""
        return dict(self._initial_cash)

    # ---- booking -------------------------------------------------------------------------

    def apply_fill(self, strategy: str, fill: Fill, kind: InstrumentKind) -> None:
        """Book one execution for ``strategy``.

        Parameters
        ----------
        strategy : str
            Strategy that owns the order (not ``"unattributed"``).
        fill : Fill
            ``qty`` > 0 base units, ``price`` > 0 quote units (= USD), ``fee_usd`` USD.
        kind : InstrumentKind
            Must equal ``fill.instrument_id.kind`` (spot and perp P&L are kept apart).

        Raises
        ------
        ValueError
            On a non-positive qty or price, a number outside the ledger's digit bounds, a kind
            that disagrees with the instrument, a venue without a cash account, or the
            reserved strategy name.
        """
        _check_fill(strategy, fill, kind)
        iid = fill.instrument_id
        self._require_account(iid.venue)
        reference = fill.price if fill.reference_price is None else fill.reference_price
        sign = fill.side.sign
        with localcontext(_CTX):
            self._cash[iid.venue] -= sign * fill.qty * fill.price + fill.fee_usd
            lot = self._lots.setdefault(iid, {}).setdefault(strategy, _Lot())
            _trade(lot, sign, fill.qty, reference)
            self._net[iid] = self._net.get(iid, _ZERO) + sign * fill.qty
            flows = self._flow(strategy, iid.venue)
            flows.fees_usd += fill.fee_usd
            flows.slippage_usd += sign * fill.qty * (fill.price - reference)
            self.fees_paid_usd += fill.fee_usd
        # The fill's reference price is the latest price seen; a position that was flat must
        # not keep the mark it had when last held.
        self._marks[iid] = reference
        self.fill_counts[strategy] = self.fill_counts.get(strategy, 0) + 1
        self._version += 1

    def apply_funding(self, payment: FundingPayment) -> dict[str, Decimal]:
        """Book one funding settlement and split it across the strategies holding it.

        Each holder's share is ``−Decimal(repr(rate)) × qty_s × mark_price`` (exact at a
        resolution of 1e-40 USD, see the module docstring). Whatever the shares do not explain
        (the venue's position differs from the ledger's, or the venue rounded the amount) is
        booked to ``"unattributed"`` and recorded in :attr:`funding_discrepancies`, so the
        shares always sum to ``amount_usd`` exactly.

        Parameters
        ----------
        payment : FundingPayment
            ``amount_usd`` signed (positive received), USD; ``rate`` per interval, fraction.

        Returns
        -------
        dict[str, Decimal]
            USD booked per strategy, strategies sorted by name, ``"unattributed"`` included
            only when non-zero.

        Raises
        ------
        ValueError
            If the venue has no cash account, the rate or amount is not finite, or the mark
            price is out of the ledger's digit bounds.
        """
        iid = payment.instrument_id
        self._require_account(iid.venue)
        if not math.isfinite(payment.rate) or not payment.amount_usd.is_finite():
            raise ValueError(f"funding payment for {iid} has a non-finite rate or amount")
        _check_digits(f"funding mark price of {iid}", payment.mark_price)
        rate = Decimal(repr(payment.rate))
        holders = self._lots.get(iid, {})
        with localcontext(_CTX):
            amount = _booked(payment.amount_usd)
            shares = {
                s: _booked(-rate * lot.qty * payment.mark_price)
                for s, lot in sorted(holders.items())
                if lot.qty != 0
            }
            residual = amount - sum(shares.values(), _ZERO)
            if residual != 0:
                shares[UNATTRIBUTED] = shares.get(UNATTRIBUTED, _ZERO) + residual
                self._record_discrepancy(payment, residual)
            self._book_funding(iid.venue, amount, shares)
        self._version += 1
        return shares

    def mark(self, prices: Mapping[InstrumentId, Decimal]) -> None:
        """Update mark prices (quote units = USD); the last mark per instrument is kept.

        Raises
        ------
        ValueError
            If a price is not positive or outside the ledger's digit bounds.
        """
        for iid, price in prices.items():
            _check_digits(f"mark price of {iid}", price)
            if not price > 0:
                raise ValueError(f"mark price of {iid} must be positive, got {price}")
        self._marks.update(prices)
        self._version += 1

    @classmethod
    def replay(
        cls,
        initial_cash_usd: Mapping[str, Decimal],
        events: Iterable[tuple[str, Fill] | FundingPayment],
        marks: Mapping[InstrumentId, Decimal] | None = None,
    ) -> Portfolio:
        """Rebuild a ledger from journaled events (e.g. ``Journal.ledger_events()``).

        Parameters
        ----------
        initial_cash_usd : Mapping[str, Decimal]
            The same accounts the live ledger started with, USD.
        events : Iterable[tuple[str, Fill] | FundingPayment]
            ``(strategy, fill)`` pairs and funding payments, in the order they were booked.
        marks : Mapping[InstrumentId, Decimal] | None
            Marks to apply at the end (e.g. the journal's final marks).
        """
        portfolio = cls(initial_cash_usd)
        for event in events:
            if isinstance(event, FundingPayment):
                portfolio.apply_funding(event)
            else:
                strategy, fill = event
                portfolio.apply_fill(strategy, fill, fill.instrument_id.kind)
        if marks:
            portfolio.mark(marks)
        return portfolio

    # ---- P&L -----------------------------------------------------------------------------

    def equity_usd(self) -> Decimal:
        """Σ cash + Σ net qty × mark, USD (cached until the next booking or mark)."""
        if self._equity_cache is None or self._equity_cache[0] != self._version:
            with localcontext(_CTX):
                value = sum(self._cash.values(), _ZERO) + sum(self._market_values().values(), _ZERO)
            self._equity_cache = (self._version, value)
        return self._equity_cache[1]

    def venue_equity_usd(self, venue: str) -> Decimal:
        """Cash of ``venue`` plus its positions at their marks, USD (0 for an unknown venue)."""
        with localcontext(_CTX):
            value = self._cash.get(venue, _ZERO)
            for iid, qty in self._net_positions().items():
                if iid.venue == venue:
                    value += qty * self._marks[iid]
            return value

    def cash_usd(self) -> dict[str, Decimal]:
        """Cash per venue account, USD (a copy)."""
        return dict(self._cash)

    def pnl(self) -> PnlReport:
        """P&L by stream with per-strategy and per-venue breakdowns (see module docstring).

        Cached until the next fill, funding payment or mark.
        """
        if self._pnl_cache is None or self._pnl_cache[0] != self._version:
            self._pnl_cache = (self._version, self._compute_pnl())
        return self._pnl_cache[1]

    def _compute_pnl(self) -> PnlReport:
        cells = self._cells()
        with localcontext(_CTX):
            by_strategy: dict[str, _Cell] = {}
            by_venue: dict[str, _Cell] = {v: [_ZERO] * 7 for v in self._cash}
            total: _Cell = [_ZERO] * 7
            for (strategy, venue), cell in sorted(cells.items()):
                of_strategy = by_strategy.setdefault(strategy, [_ZERO] * 7)
                of_venue = by_venue.setdefault(venue, [_ZERO] * 7)
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

    def check_identity(self, tolerance_usd: Decimal = Decimal("1e-6")) -> None:
        """Assert ``equity_usd() − initial_equity_usd == pnl().total_usd``.

        The identity is exact by construction; a difference means a bug or an input that
        bypassed the ledger. ``tolerance_usd=Decimal(0)`` checks exact equality.

        Raises
        ------
        AccountingError
            With both numbers when they differ by more than ``tolerance_usd`` (USD).
        """
        with localcontext(_CTX):
            change = self.equity_usd() - self.initial_equity_usd
            total = self.pnl().total_usd
            if abs(change - total) > tolerance_usd:
                raise AccountingError(change, total, tolerance_usd)

    def snapshot_rows(self) -> PortfolioSnapshot:
        """Equity, P&L (with per-strategy streams) and exposures, as the journal stores them
        (cached until the next booking or mark)."""
        if self._snapshot_cache is None or self._snapshot_cache[0] != self._version:
            values = self._market_values().values()
            with localcontext(_CTX):
                gross = sum((abs(v) for v in values), _ZERO)
                net = sum(values, _ZERO)
            equity = self.equity_usd()
            snap = PortfolioSnapshot(equity, self.initial_equity_usd, self.pnl(), gross, net)
            self._snapshot_cache = (self._version, snap)
        return self._snapshot_cache[1]

    # ---- views ---------------------------------------------------------------------------

    def positions(self, strategy: str | None = None) -> dict[InstrumentId, Decimal]:
        """Non-zero signed positions, base units: of ``strategy``, or net over all when None."""
        if strategy is None:
            return self._net_positions()
        return {
            iid: lot.qty
            for iid, holders in self._lots.items()
            if (lot := holders.get(strategy)) is not None and lot.qty != 0
        }

    def avg_cost(self, strategy: str, instrument_id: InstrumentId) -> Decimal | None:
        """Average reference-price cost of the strategy's open position, USD/unit; None if flat."""
        lot = self._lots.get(instrument_id, {}).get(strategy)
        if lot is None or lot.qty == 0:
            return None
        with localcontext(_CTX):
            return lot.basis_usd / lot.qty

    def marks(self) -> dict[InstrumentId, Decimal]:
        """Last mark price per instrument, quote units (a copy)."""
        return dict(self._marks)

    def gross_notional_usd(self) -> Decimal:
        """Σ |net qty × mark| over instruments, USD."""
        with localcontext(_CTX):
            return sum((abs(v) for v in self._market_values().values()), _ZERO)

    def net_delta_usd(self) -> Decimal:
        """Σ signed net qty × mark over spot and linear perps (delta ±1 per unit), USD."""
        with localcontext(_CTX):
            return sum(self._market_values().values(), _ZERO)

    def notional_by_venue(self) -> dict[str, Decimal]:
        """Gross notional Σ |net qty × mark| per venue with positions, USD."""
        result: dict[str, Decimal] = {}
        with localcontext(_CTX):
            for iid, value in self._market_values().items():
                result[iid.venue] = result.get(iid.venue, _ZERO) + abs(value)
        return result

    def venue_committed_usd(self, venue: str, perp_leverage: Decimal | float) -> Decimal:
        """Capital a venue ties up: |spot holdings value| + |perp notional| / leverage, USD.

        Raises
        ------
        ValueError
            If ``perp_leverage`` is not positive.
        """
        leverage = perp_leverage if isinstance(perp_leverage, Decimal) else _dec(perp_leverage)
        if not leverage > 0:
            raise ValueError(f"perp_leverage must be positive, got {perp_leverage!r}")
        committed = _ZERO
        with localcontext(_CTX):
            for iid, value in self._market_values().items():
                if iid.venue == venue:
                    perp = iid.kind is InstrumentKind.PERP
                    committed += abs(value) / leverage if perp else abs(value)
        return committed

    def beta_to_btc(
        self, betas: Mapping[str, float], base_assets: Mapping[InstrumentId, str] | None = None
    ) -> float:
        """Portfolio beta Σ (signed market value / gross exposure) × β (SEEDS "Neutrality").

        Parameters
        ----------
        betas : Mapping[str, float]
            Beta to BTC per base asset (``"ETH"``), dimensionless.
        base_assets : Mapping[InstrumentId, str] | None
            Base asset per instrument; by default parsed from the symbol (``ETHUSDT`` → ``ETH``).

        Returns
        -------
        float
            Dimensionless; 0.0 when there is no exposure.

        Raises
        ------
        ValueError
            If a held asset has no beta (an unknown beta is never assumed to be 1.0).
        """
        values = self._market_values()
        gross = float(sum((abs(v) for v in values.values()), _ZERO))
        if gross == 0.0:
            return 0.0
        bases = {i: (base_assets or {}).get(i) or base_asset(i.symbol) for i in values}
        missing = sorted({b for b in bases.values() if b not in betas})
        if missing:
            raise ValueError(f"no beta for held assets {missing}; refusing to assume 1.0")
        return sum(float(v) / gross * betas[bases[i]] for i, v in values.items())

    def to_view(
        self, strategy: str, capital_frac: float, blocked_bases: frozenset[str] = frozenset()
    ) -> PortfolioView:
        """Float view for ``strategy``: equity, its capital (equity × ``capital_frac``), its
        own positions and the portfolio's net positions (base units), and the base assets it
        must not open (``blocked_bases``)."""
        equity = float(self.equity_usd())
        positions = {iid: float(q) for iid, q in self.positions(strategy).items()}
        net = {iid: float(q) for iid, q in self._net.items() if q}
        return PortfolioView(equity, equity * capital_frac, positions, net, blocked_bases)

    # ---- internals -----------------------------------------------------------------------

    def _require_account(self, venue: str) -> None:
        if venue not in self._cash:
            known = ", ".join(sorted(self._cash))
            raise ValueError(f"venue {venue!r} has no cash account in the ledger (known: {known})")

    def _flow(self, strategy: str, venue: str) -> _Flows:
        return self._flows.setdefault((strategy, venue), _Flows())

    def _book_funding(self, venue: str, amount_usd: Decimal, shares: Mapping[str, Decimal]) -> None:
        self._cash[venue] += amount_usd
        for strategy, share in shares.items():
            self._flow(strategy, venue).funding_usd += share
        if amount_usd > 0:
            self.funding_received_usd += amount_usd
        else:
            self.funding_paid_usd -= amount_usd

    def _record_discrepancy(self, payment: FundingPayment, residual_usd: Decimal) -> None:
        ledger_qty = sum((lot.qty for lot in self._lots.get(payment.instrument_id, {}).values()),
                         _ZERO)  # fmt: skip
        self.funding_discrepancies.append(
            FundingDiscrepancy(
                payment.instrument_id,
                payment.ts_funding_ms,
                ledger_qty,
                payment.position_qty,
                residual_usd,
            )
        )

    def _net_positions(self) -> dict[InstrumentId, Decimal]:
        return {iid: qty for iid, qty in self._net.items() if qty != 0}

    def _market_values(self) -> dict[InstrumentId, Decimal]:
        with localcontext(_CTX):
            return {iid: q * self._marks[iid] for iid, q in self._net_positions().items()}

    def _cells(self) -> dict[tuple[str, str], _Cell]:
        """Stream values per (strategy, venue) in the ``_Cell`` layout."""
        cells: dict[tuple[str, str], _Cell] = {}
        with localcontext(_CTX):
            for iid, holders in self._lots.items():
                mark = self._marks[iid]
                price_index = 1 if iid.kind is InstrumentKind.PERP else 0
                for strategy, lot in holders.items():
                    cell = cells.setdefault((strategy, iid.venue), [_ZERO] * 7)
                    unrealized = lot.qty * mark - lot.basis_usd
                    cell[price_index] += lot.realized_usd + unrealized
                    cell[5] += lot.realized_usd
                    cell[6] += unrealized
            for key, flows in self._flows.items():
                cell = cells.setdefault(key, [_ZERO] * 7)
                cell[2] += flows.funding_usd
                cell[3] += flows.fees_usd
                cell[4] += flows.slippage_usd
        return cells


def _streams(cell: _Cell) -> PnlStreams:
    return PnlStreams(cell[0], cell[1], cell[2], cell[3], cell[4], cell[5], cell[6])


def _trade(lot: _Lot, sign: int, qty: Decimal, reference: Decimal) -> None:
    """Apply ``sign × qty`` at ``reference`` to ``lot`` with average-cost accounting.

    Invariant: ``realized − basis`` changes by exactly ``−sign × qty × reference``.
    """
    held = lot.qty
    if held == 0 or (held > 0) == (sign > 0):
        lot.basis_usd += sign * qty * reference
        lot.qty += sign * qty
        return
    closed = min(qty, abs(held))
    if closed == abs(held):
        removed = lot.basis_usd
    else:
        removed = (lot.basis_usd * closed / abs(held)).quantize(_QUANTUM)
    lot.realized_usd += -sign * closed * reference - removed
    lot.basis_usd += sign * (qty - closed) * reference - removed
    lot.qty += sign * qty


def _check_fill(strategy: str, fill: Fill, kind: InstrumentKind) -> None:
    if strategy == UNATTRIBUTED or not strategy:
        raise ValueError(f"strategy name {strategy!r} is reserved or empty")
    if fill.instrument_id.kind is not kind:
        raise ValueError(f"fill {fill.trade_id}: kind {kind} but instrument {fill.instrument_id}")
    ref = fill.price if fill.reference_price is None else fill.reference_price
    for name, value in (("qty", fill.qty), ("price", fill.price), ("reference_price", ref)):
        _check_digits(f"fill {fill.trade_id} {name}", value)
        if not value > 0:
            raise ValueError(f"fill {fill.trade_id} on {fill.instrument_id}: {name} {value} <= 0")
    _check_digits(f"fill {fill.trade_id} fee_usd", fill.fee_usd)


def _check_digits(what: str, value: Decimal) -> None:
    """Refuse a number the exact ledger cannot hold (see the module docstring)."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{what} must be a finite Decimal, got {value!r}")
    exponent = value.as_tuple().exponent
    too_fine = isinstance(exponent, int) and exponent < _MIN_EXPONENT
    if too_fine or value.adjusted() > _MAX_ADJUSTED:
        raise ValueError(f"{what} {value} has more than 40 decimal places or is >= 1e30")


def _booked(amount_usd: Decimal) -> Decimal:
    """``amount_usd`` at the ledger's 1e-40 USD resolution (unchanged when already on it)."""
    exponent = amount_usd.as_tuple().exponent
    if isinstance(exponent, int) and exponent < _MIN_EXPONENT:
        return amount_usd.quantize(_QUANTUM)
    return amount_usd


def _dec(value: float) -> Decimal:
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return Decimal(repr(value))
