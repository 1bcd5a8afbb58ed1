"""Positions and marks of the ledger, and the views over them (:mod:`agent.portfolio.ledger`).

:class:`PositionBook` holds what the exposure views need: the open lot of each strategy in
each instrument, the net position per instrument (base units) and the last mark per
instrument (quote units = USD). Its views are exact Decimal sums in the ledger's context:
positions and average reference-price cost, gross notional Σ |net qty × mark|, net delta
Σ net qty × mark (spot and linear perps, delta ±1 per unit; an option at its delta-equivalent
value qty × Δ × forward, :meth:`PositionBook.set_option_deltas`), notional per venue, the capital
a venue ties up (|spot value| + |perp notional| / leverage) and the portfolio beta to BTC
Σ (signed market value / gross exposure) × β (SEEDS "Neutrality").

:class:`agent.portfolio.ledger.Portfolio` owns one :class:`PositionBook` beside its cash and P&L
flows; it is the only code that books into it (:meth:`PositionBook.book_trade`,
:meth:`PositionBook.set_marks`) and hands out the views.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext

from agent.portfolio.exact import EXACT_CONTEXT, ZERO, Lot, exact_decimal, trade_lot
from venues.model import InstrumentId, InstrumentKind, base_asset


class PositionBook:
    """Open lots per (instrument, strategy), net positions and last marks, read-only views.

    Starts empty; :class:`agent.portfolio.ledger.Portfolio` books fills and marks into it.
    """

    __slots__ = (
        "_lots",
        "_market_values",
        "_marks",
        "_net",
        "_open_net",
        "_option_delta_usd",
        "_positions_of",
        "traded_at",
        "trades",
    )

    def __init__(self) -> None:
        self._lots: dict[InstrumentId, dict[str, Lot]] = {}
        self._marks: dict[InstrumentId, Decimal] = {}
        self._net: dict[InstrumentId, Decimal] = {}
        self._option_delta_usd: dict[InstrumentId, Decimal] = {}
        # positions(strategy) until the next trade: every strategy's cycle, plan and risk
        # check asks, and only a trade changes them.
        self._positions_of: dict[str, dict[InstrumentId, Decimal]] = {}
        # net_positions() until the next trade, market_values() until the next trade or mark:
        # the engine, the risk checks and every snapshot ask several times a step.
        self._open_net: dict[InstrumentId, Decimal] | None = None
        self._market_values: dict[InstrumentId, Decimal] | None = None
        self.trades = 0
        """Trades booked so far: positions (own and net) change only when it does."""
        self.traded_at: dict[tuple[str, InstrumentId], int] = {}
        """:attr:`trades` as of the last trade of each lot (strategy, instrument): a lot
        changes only then."""

    # ---- booking (the ledger's) ----------------------------------------------------------

    def book_trade(
        self,
        strategy: str,
        instrument_id: InstrumentId,
        sign: int,
        qty: Decimal,
        reference: Decimal,
    ) -> None:
        """Apply ``sign × qty`` (base units) at ``reference`` (quote units) to the strategy's lot
        and the net position, average-cost accounting (:func:`agent.portfolio.exact.trade_lot`);
        the instrument's mark becomes ``reference``, the latest price seen. Call inside the
        ledger's context."""
        self._positions_of.clear()
        self._open_net = None
        self._market_values = None
        self.trades += 1
        self.traded_at[(strategy, instrument_id)] = self.trades
        lot = self._lots.setdefault(instrument_id, {}).setdefault(strategy, Lot())
        trade_lot(lot, sign, qty, reference)
        self._net[instrument_id] = self._net.get(instrument_id, ZERO) + sign * qty
        self._marks[instrument_id] = reference

    def set_marks(self, prices: Mapping[InstrumentId, Decimal]) -> None:
        """Replace the marks of ``prices``' instruments (quote units, checked by the ledger)."""
        self._marks.update(prices)
        self._market_values = None

    def set_option_deltas(self, delta_usd: Mapping[InstrumentId, Decimal]) -> None:
        """Replace the USD delta per unit (Δ × forward, USD per coin of option) of
        ``delta_usd``'s options (the ledger's; checked by it)."""
        self._option_delta_usd.update(delta_usd)

    def holders(self, instrument_id: InstrumentId) -> Mapping[str, Lot]:
        """Each strategy's open lot in ``instrument_id`` (read-only use)."""
        return self._lots.get(instrument_id, {})

    def lots(self) -> Mapping[InstrumentId, Mapping[str, Lot]]:
        """Every lot per instrument and strategy (read-only use: P&L aggregation)."""
        return self._lots

    def net_qty(self) -> Mapping[InstrumentId, Decimal]:
        """Net signed position per instrument ever traded, zeros included, base units."""
        return self._net

    def marks_view(self) -> Mapping[InstrumentId, Decimal]:
        """Last mark per instrument, quote units (not a copy: read-only use)."""
        return self._marks

    def mark_of(self, instrument_id: InstrumentId) -> Decimal:
        """Last mark of a held instrument, quote units (KeyError if never marked)."""
        return self._marks[instrument_id]

    # ---- views ---------------------------------------------------------------------------

    def positions(self, strategy: str | None = None) -> dict[InstrumentId, Decimal]:
        """Non-zero signed positions, base units: of ``strategy``, or net over all when None."""
        if strategy is None:
            return self.net_positions()
        own = self._positions_of.get(strategy)
        if own is None:
            own = {
                iid: lot.qty
                for iid, holders in self._lots.items()
                if (lot := holders.get(strategy)) is not None and lot.qty != 0
            }
            self._positions_of[strategy] = own
        return dict(own)

    def avg_cost(self, strategy: str, instrument_id: InstrumentId) -> Decimal | None:
        """Average reference-price cost of the strategy's open position, USD/unit; None if flat."""
        lot = self._lots.get(instrument_id, {}).get(strategy)
        if lot is None or lot.qty == 0:
            return None
        with localcontext(EXACT_CONTEXT):
            return lot.basis_usd / lot.qty

    def marks(self) -> dict[InstrumentId, Decimal]:
        """Last mark price per instrument, quote units (a copy)."""
        return dict(self._marks)

    def gross_notional_usd(self) -> Decimal:
        """Σ |net qty × mark| over instruments, USD."""
        with localcontext(EXACT_CONTEXT):
            return sum((abs(v) for v in self.market_values().values()), ZERO)

    def net_delta_usd(self) -> Decimal:
        """Σ signed net qty × mark over spot and linear perps (delta ±1 per unit), plus each
        option's net qty × its USD delta per unit (:meth:`set_option_deltas`: Δ × forward), USD.
        An option whose delta was never set counts at its market value (qty × mark)."""
        deltas = self._option_delta_usd
        with localcontext(EXACT_CONTEXT):
            if not deltas:  # no option delta set: every value counts as it is, same order
                return sum(self.market_values().values(), ZERO)
            return sum(
                (
                    self._net[iid] * deltas[iid] if iid in deltas else value
                    for iid, value in self.market_values().items()
                ),
                ZERO,
            )

    def notional_by_venue(self) -> dict[str, Decimal]:
        """Gross notional Σ |net qty × mark| per venue with positions, USD."""
        result: dict[str, Decimal] = {}
        with localcontext(EXACT_CONTEXT):
            for iid, value in self.market_values().items():
                result[iid.venue] = result.get(iid.venue, ZERO) + abs(value)
        return result

    def venue_committed_usd(self, venue: str, perp_leverage: Decimal | float) -> Decimal:
        """Capital a venue ties up: |spot holdings value| + |perp notional| / leverage, USD.

        Raises
        ------
        ValueError
            If ``perp_leverage`` is not positive.
        """
        leverage = (
            perp_leverage if isinstance(perp_leverage, Decimal) else exact_decimal(perp_leverage)
        )
        if not leverage > 0:
            raise ValueError(f"perp_leverage must be positive, got {perp_leverage!r}")
        committed = ZERO
        with localcontext(EXACT_CONTEXT):
            for iid, value in self.market_values().items():
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
        values = self.market_values()
        gross = float(sum((abs(v) for v in values.values()), ZERO))
        if gross == 0.0:
            return 0.0
        bases = {i: (base_assets or {}).get(i) or base_asset(i.symbol) for i in values}
        missing = sorted({b for b in bases.values() if b not in betas})
        if missing:
            raise ValueError(f"no beta for held assets {missing}; refusing to assume 1.0")
        return sum(float(v) / gross * betas[bases[i]] for i, v in values.items())

    def net_positions(self) -> dict[InstrumentId, Decimal]:
        """Non-zero net signed positions, base units (a copy)."""
        return dict(self._held())

    def market_values(self) -> dict[InstrumentId, Decimal]:
        """Signed net qty × mark per held instrument, USD (a copy)."""
        if self._market_values is None:
            marks = self._marks
            with localcontext(EXACT_CONTEXT):
                self._market_values = {iid: q * marks[iid] for iid, q in self._held().items()}
        return dict(self._market_values)

    def _held(self) -> dict[InstrumentId, Decimal]:
        """The non-zero net positions, kept until the next trade (read-only use)."""
        if self._open_net is None:
            self._open_net = {iid: qty for iid, qty in self._net.items() if qty != 0}
        return self._open_net
