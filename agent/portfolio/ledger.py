"""The one ledger: positions, cash and P&L by stream, strategy, venue and leg.

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

Options (``InstrumentKind.OPTION``) are held outright, like spot: the premium moves cash as any
fill does (paid on a buy, received on a sell — a short option is a negative quantity), the
position is worth qty × mark (the option's price per coin), and expiry is a fill at intrinsic
value (price 0 allowed for an option: it expired worthless), which closes the lot. Their price
P&L is therefore booked in ``price_spot`` (the stream of instruments held outright; a report
that wants the options alone reads their legs, :meth:`Portfolio.pnl_by_leg`), and the identity
below needs no stream of its own.

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

This module is the public face of the ledger: the exact arithmetic lives in
``agent.portfolio.exact``, the records (:class:`PnlStreams`, :class:`PnlReport`, ...) and the
P&L aggregation in ``agent.portfolio.pnl``, the position and exposure views in
``agent.portfolio.positions`` (the :class:`PositionBook` a :class:`Portfolio` owns); import
them all from here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal, localcontext

from agent.errors import AccountingError
from agent.portfolio.exact import (
    EXACT_CONTEXT,
    ZERO,
    at_booking_resolution,
    check_digits,
    digits_error,
    ledger_context,
    within_digit_bounds,
)
from agent.portfolio.pnl import (
    Flows,
    FundingDiscrepancy,
    PnlReport,
    PnlStreams,
    PortfolioSnapshot,
    VenueCells,
    compute_pnl,
    leg_cells,
    leg_streams,
)
from agent.portfolio.positions import PositionBook
from strategies.base import PortfolioView
from venues.model import Fill, FundingPayment, InstrumentId, InstrumentKind

__all__ = [
    "UNATTRIBUTED",
    "AccountingError",
    "FundingDiscrepancy",
    "PnlReport",
    "PnlStreams",
    "Portfolio",
    "PortfolioSnapshot",
    "ledger_context",
]

UNATTRIBUTED = "unattributed"
"""Pseudo-strategy that receives funding the ledger cannot attribute to a position."""

_FLOAT_MARK_MIN = 1e-23
_FLOAT_MARK_MAX = 1e29
"""Float marks in ``[_FLOAT_MARK_MIN, _FLOAT_MARK_MAX)`` are within the digit bounds
(:meth:`Portfolio.mark_floats`)."""


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
            check_digits(f"initial cash of {venue!r}", cash)
        self._initial_cash = dict(initial_cash_usd)
        self._cash = dict(initial_cash_usd)
        with localcontext(EXACT_CONTEXT):
            self.initial_equity_usd: Decimal = sum(self._cash.values(), ZERO)
        self._book = PositionBook()
        self._flows: dict[tuple[str, InstrumentId], Flows] = {}  # per leg
        self._version = 0  # bumped by every booking and changed mark; keys the cached P&L report
        self._pnl_cache: tuple[int, PnlReport] | None = None
        self._venue_cells = VenueCells()  # pnl()'s cells, the closed instruments' part kept
        self._equity_cache: tuple[int, Decimal] | None = None
        self._snapshot_cache: tuple[int, PortfolioSnapshot] | None = None
        # to_view's float positions (per strategy, None = net) as of _book.trades trades
        self._float_views: dict[str | None, dict[InstrumentId, float]] = {}
        self._float_views_at = -1
        self._float_equity = (-1, 0.0)  # to_view's float equity as of _version
        self.fill_counts: dict[str, int] = {}
        self.fees_paid_usd = ZERO
        self.funding_received_usd = ZERO
        self.funding_paid_usd = ZERO
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
        with localcontext(EXACT_CONTEXT):
            self._cash[iid.venue] -= sign * fill.qty * fill.price + fill.fee_usd
            self._book.book_trade(strategy, iid, sign, fill.qty, reference)
            flows = self._flow(strategy, iid)
            flows.fees_usd += fill.fee_usd
            flows.slippage_usd += sign * fill.qty * (fill.price - reference)
            self.fees_paid_usd += fill.fee_usd
        # (The book marks the instrument at the fill's reference price, the latest price seen:
        # a position that was flat must not keep the mark it had when last held.)
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
        venue = iid.venue
        self._require_account(venue)
        if not math.isfinite(payment.rate) or not payment.amount_usd.is_finite():
            raise ValueError(f"funding payment for {iid} has a non-finite rate or amount")
        mark = payment.mark_price
        if not within_digit_bounds(mark):  # (the message is built only for an error)
            raise digits_error(f"funding mark price of {iid}", mark)
        rate = Decimal(repr(payment.rate))
        holders = self._book.holders(iid)
        with localcontext(EXACT_CONTEXT):
            neg_rate = -rate
            amount = at_booking_resolution(payment.amount_usd)
            shares = {
                s: at_booking_resolution(neg_rate * lot.qty * mark)
                for s, lot in sorted(holders.items())
                if lot.qty != 0
            }
            residual = amount - sum(shares.values(), ZERO)
            if residual != 0:
                shares[UNATTRIBUTED] = shares.get(UNATTRIBUTED, ZERO) + residual
                self._record_discrepancy(payment, residual)
            self._book_funding(iid, venue, amount, shares)
        self._version += 1
        return shares

    def mark(self, prices: Mapping[InstrumentId, Decimal]) -> None:
        """Update mark prices (quote units = USD); the last mark per instrument is kept.

        A mark equal to the one kept, digit for digit (same value and exponent), changes
        nothing: when every price is such a mark (or there is none: nothing held), the cached
        equity, P&L and snapshot stay valid.

        Raises
        ------
        ValueError
            If a price is not positive (an option's may be 0) or outside the ledger's digit
            bounds.
        """
        for iid, price in prices.items():
            check_digits(f"mark price of {iid}", price)
            # an expired option's last mark is its settlement at intrinsic value, possibly 0
            if not (price > 0 or (price == 0 and iid.kind is InstrumentKind.OPTION)):
                raise ValueError(f"mark price of {iid} must be positive, got {price}")
        self._set_marks(prices)

    def mark_floats(self, prices: Mapping[InstrumentId, float]) -> None:
        """:meth:`mark` with float prices (the market data's, quote units): each becomes
        ``Decimal(repr(price))``, the Decimal of its shortest repr.

        A finite price in ``[1e-23, 1e29)`` needs no digit check: its repr has at most 17
        significant digits, so its Decimal has at most 39 decimal places and is below 1e30
        (the ledger's bounds); any other price goes through :meth:`mark`'s checks.

        Raises
        ------
        ValueError
            As :meth:`mark`.
        """
        marks: dict[InstrumentId, Decimal] = {}
        for iid, price in prices.items():
            value = Decimal(repr(price))
            if not _FLOAT_MARK_MIN <= price < _FLOAT_MARK_MAX:
                check_digits(f"mark price of {iid}", value)
                if not (value > 0 or (value == 0 and iid.kind is InstrumentKind.OPTION)):
                    raise ValueError(f"mark price of {iid} must be positive, got {value}")
            marks[iid] = value
        self._set_marks(marks)

    def _set_marks(self, prices: Mapping[InstrumentId, Decimal]) -> None:
        """Keep the checked ``prices`` that differ (digit for digit) from the marks kept."""
        marks = self._book.marks_view()
        changed: dict[InstrumentId, Decimal] = {}
        for iid, price in prices.items():
            kept = marks.get(iid)
            if kept is None or kept.compare_total(price) != 0:
                changed[iid] = price
        if changed:
            self._book.set_marks(changed)
            self._version += 1

    def set_option_deltas(self, delta_usd: Mapping[InstrumentId, Decimal]) -> None:
        """Set the USD delta per unit of options (Black-76 Δ × forward, USD per coin of
        option; :func:`strategies.options.held_delta.held_option_delta`), what
        :meth:`net_delta_usd` counts them at instead of their market value.

        Raises
        ------
        ValueError
            If an instrument is not an option or a value is outside the ledger's digit bounds.
        """
        for iid, value in delta_usd.items():
            if iid.kind is not InstrumentKind.OPTION:
                raise ValueError(f"{iid} is not an option: its delta is 1 per unit")
            check_digits(f"delta of {iid}", value)
        self._book.set_option_deltas(delta_usd)
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
            with localcontext(EXACT_CONTEXT):
                value = sum(self._cash.values(), ZERO) + sum(
                    self._book.market_values().values(), ZERO
                )
            self._equity_cache = (self._version, value)
        return self._equity_cache[1]

    def venue_equity_usd(self, venue: str) -> Decimal:
        """Cash of ``venue`` plus its positions at their marks, USD (0 for an unknown venue)."""
        with localcontext(EXACT_CONTEXT):
            value = self._cash.get(venue, ZERO)
            for iid, market_value in self._book.market_values().items():
                if iid.venue == venue:
                    value += market_value
            return value

    def cash_usd(self) -> dict[str, Decimal]:
        """Cash per venue account, USD (a copy)."""
        return dict(self._cash)

    def pnl(self) -> PnlReport:
        """P&L by stream with per-strategy and per-venue breakdowns (see module docstring).

        Cached until the next fill, funding payment or mark that changes one.
        """
        if self._pnl_cache is None or self._pnl_cache[0] != self._version:
            book, flows = self._book, self._flows
            cells = self._venue_cells.cells(
                book.lots(), flows, book.marks_view(), book.trades, book.traded_at
            )
            self._pnl_cache = (self._version, compute_pnl(cells, self._cash))
        return self._pnl_cache[1]

    def pnl_by_leg(self) -> dict[str, dict[InstrumentId, PnlStreams]]:
        """P&L by stream of each leg: per strategy, per instrument it traded or was paid
        funding on (``"unattributed"`` included when it holds funding), USD.

        The legs hold the lots and flows :meth:`pnl` sums (exactly), so for every strategy and
        stream the legs add up to ``pnl().by_strategy[strategy]`` exactly (Decimal equality),
        and the legs of a venue's instruments to ``pnl().by_venue[venue]``. A leg's price P&L is
        the realized + unrealized P&L of the strategy's lot in that instrument at
        reference-price basis, its fees and slippage those of its fills, its funding the
        strategy's shares of the instrument's payments. Not cached (reports call it once).
        """
        cells = leg_cells(self._book.lots(), self._flows, self._book.marks_view())
        return leg_streams(cells)

    def check_identity(self, tolerance_usd: Decimal = Decimal("1e-6")) -> None:
        """Assert ``equity_usd() − initial_equity_usd == pnl().total_usd``.

        The identity is exact by construction; a difference means a bug or an input that
        bypassed the ledger. ``tolerance_usd=Decimal(0)`` checks exact equality.

        Raises
        ------
        AccountingError
            With both numbers when they differ by more than ``tolerance_usd`` (USD).
        """
        with localcontext(EXACT_CONTEXT):
            change = self.equity_usd() - self.initial_equity_usd
            total = self.pnl().total_usd
            if abs(change - total) > tolerance_usd:
                raise AccountingError(change, total, tolerance_usd)

    def snapshot_rows(self) -> PortfolioSnapshot:
        """Equity, P&L (with per-strategy streams) and exposures, as the journal stores them
        (cached until the next booking or mark)."""
        if self._snapshot_cache is None or self._snapshot_cache[0] != self._version:
            values = self._book.market_values().values()
            with localcontext(EXACT_CONTEXT):
                gross = sum(map(abs, values), ZERO)
            net = self._book.net_delta_usd()
            equity = self.equity_usd()
            snap = PortfolioSnapshot(equity, self.initial_equity_usd, self.pnl(), gross, net)
            self._snapshot_cache = (self._version, snap)
        return self._snapshot_cache[1]

    # ---- views (the position book's) ------------------------------------------------------

    def positions(self, strategy: str | None = None) -> dict[InstrumentId, Decimal]:
        """Non-zero signed positions, base units: of ``strategy``, or net over all when None."""
        return self._book.positions(strategy)

    def position_qty(self, strategy: str, instrument_id: InstrumentId) -> Decimal:
        """``strategy``'s signed position in ``instrument_id``, base units (0 when flat)."""
        lot = self._book.holders(instrument_id).get(strategy)
        return ZERO if lot is None else lot.qty

    def holders(self, instrument_id: InstrumentId) -> dict[str, Decimal]:
        """Each strategy's non-zero signed position in ``instrument_id``, base units."""
        return {s: lot.qty for s, lot in self._book.holders(instrument_id).items() if lot.qty}

    def avg_cost(self, strategy: str, instrument_id: InstrumentId) -> Decimal | None:
        """Average reference-price cost of the strategy's open position, USD/unit; None if flat."""
        return self._book.avg_cost(strategy, instrument_id)

    def marks(self) -> dict[InstrumentId, Decimal]:
        """Last mark price per instrument, quote units (a copy)."""
        return self._book.marks()

    def gross_notional_usd(self) -> Decimal:
        """Σ |net qty × mark| over instruments, USD."""
        return self._book.gross_notional_usd()

    def net_delta_usd(self) -> Decimal:
        """Σ signed net qty × mark over spot and linear perps (delta ±1 per unit), plus options
        at qty × their USD delta per unit (:meth:`set_option_deltas`), USD."""
        return self._book.net_delta_usd()

    def notional_by_venue(self) -> dict[str, Decimal]:
        """Gross notional Σ |net qty × mark| per venue with positions, USD."""
        return self._book.notional_by_venue()

    def venue_committed_usd(self, venue: str, perp_leverage: Decimal | float) -> Decimal:
        """Capital a venue ties up (see :meth:`PositionBook.venue_committed_usd`), USD."""
        return self._book.venue_committed_usd(venue, perp_leverage)

    def beta_to_btc(
        self, betas: Mapping[str, float], base_assets: Mapping[InstrumentId, str] | None = None
    ) -> float:
        """Portfolio beta to BTC (see :meth:`PositionBook.beta_to_btc`), dimensionless."""
        return self._book.beta_to_btc(betas, base_assets)

    def to_view(
        self, strategy: str, capital_frac: float, blocked_bases: frozenset[str] = frozenset()
    ) -> PortfolioView:
        """Float view for ``strategy``: equity, its capital (equity × ``capital_frac``), its
        own positions and the portfolio's net positions (base units), and the base assets it
        must not open (``blocked_bases``)."""
        if self._float_equity[0] != self._version:  # equity changes only with the version
            self._float_equity = (self._version, float(self.equity_usd()))
        equity = self._float_equity[1]
        if self._float_views_at != self._book.trades:  # positions change only with a trade
            self._float_views.clear()
            self._float_views_at = self._book.trades
        net = self._float_views.get(None)
        if net is None:
            net = {iid: float(q) for iid, q in self._book.net_qty().items() if q}
            self._float_views[None] = net
        positions = self._float_views.get(strategy)
        if positions is None:
            positions = {iid: float(q) for iid, q in self.positions(strategy).items()}
            self._float_views[strategy] = positions
        return PortfolioView(
            equity, equity * capital_frac, dict(positions), dict(net), blocked_bases
        )

    # ---- internals -----------------------------------------------------------------------

    def _require_account(self, venue: str) -> None:
        if venue not in self._cash:
            known = ", ".join(sorted(self._cash))
            raise ValueError(f"venue {venue!r} has no cash account in the ledger (known: {known})")

    def _flow(self, strategy: str, instrument_id: InstrumentId) -> Flows:
        return self._flows.setdefault((strategy, instrument_id), Flows())

    def _book_funding(
        self,
        instrument_id: InstrumentId,
        venue: str,
        amount_usd: Decimal,
        shares: Mapping[str, Decimal],
    ) -> None:
        self._cash[venue] += amount_usd
        flows = self._flows
        for strategy, share in shares.items():
            leg = (strategy, instrument_id)
            flow = flows.get(leg)
            if flow is None:  # not setdefault: no Flows built per payment for a known leg
                flow = flows[leg] = Flows()
            flow.funding_usd += share
        if amount_usd > 0:
            self.funding_received_usd += amount_usd
        else:
            self.funding_paid_usd -= amount_usd

    def _record_discrepancy(self, payment: FundingPayment, residual_usd: Decimal) -> None:
        ledger_qty = sum((lot.qty for lot in self._book.holders(payment.instrument_id).values()),
                         ZERO)  # fmt: skip
        self.funding_discrepancies.append(
            FundingDiscrepancy(
                payment.instrument_id,
                payment.ts_funding_ms,
                ledger_qty,
                payment.position_qty,
                residual_usd,
            )
        )


def _check_fill(strategy: str, fill: Fill, kind: InstrumentKind) -> None:
    if strategy == UNATTRIBUTED or not strategy:
        raise ValueError(f"strategy name {strategy!r} is reserved or empty")
    if fill.instrument_id.kind is not kind:
        raise ValueError(f"fill {fill.trade_id}: kind {kind} but instrument {fill.instrument_id}")
    ref = fill.price if fill.reference_price is None else fill.reference_price
    for name, value in (("qty", fill.qty), ("price", fill.price), ("reference_price", ref)):
        if not within_digit_bounds(value):  # (the message is built only for an error)
            raise digits_error(f"fill {fill.trade_id} {name}", value)
        # An option's price may be 0: a worthless option settled at expiry (intrinsic 0).
        if not (value > 0 or (value == 0 and name != "qty" and kind is InstrumentKind.OPTION)):
            raise ValueError(f"fill {fill.trade_id} on {fill.instrument_id}: {name} {value} <= 0")
    if not within_digit_bounds(fill.fee_usd):
        raise digits_error(f"fill {fill.trade_id} fee_usd", fill.fee_usd)
