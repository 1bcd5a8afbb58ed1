"""Account of the paper venue: the USD collateral pool, the holdings booked against it and the
margin arithmetic over them (equity, unrealized P&L, used margin, available, gross notional).

Moved from :mod:`venues.paper.venue`, whose "Accounting" section states the model: exact
``Decimal``; spot holdings are not margin collateral (as in Binance's separate spot and futures
wallets); used margin is Σ |perp notional| / leverage at current prices. :class:`Ledger` owns
the collateral and the holdings and reads the venue's instrument and price maps (shared with
the venue, never copied).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from venues.model import AccountSummary, Balance, Instrument, InstrumentId, Position

__all__ = ["COLLATERAL_ASSET", "Holding", "Ledger"]

COLLATERAL_ASSET = "USDT"
"""Asset code of the USD collateral in :meth:`PaperVenue.fetch_balances`."""

_ZERO = Decimal(0)


@dataclass(slots=True)
class Holding:
    """Signed position (spot: ≥ 0) in base units and its cost basis, USD.

    ``cost_usd`` is ``qty × average entry price``. Tracking the basis rather than the average
    price keeps equity exact: the one division (share of the basis closed) is credited and
    debited by the same amount.
    """

    qty: Decimal = _ZERO
    cost_usd: Decimal = _ZERO

    def apply(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Add a fill of ``signed_qty`` at ``price``; return the realized price P&L, USD."""
        if self.qty == 0 or (self.qty > 0) == (signed_qty > 0):
            self.qty += signed_qty
            self.cost_usd += signed_qty * price
            return _ZERO
        sign = 1 if self.qty > 0 else -1
        held = abs(self.qty)
        closed = min(abs(signed_qty), held)
        # a full close removes the whole basis; a partial one its share (the one division)
        removed = self.cost_usd * closed / held if closed < held else self.cost_usd
        realized = price * closed * sign - removed
        self.cost_usd -= removed
        self.qty -= closed * sign
        rest = abs(signed_qty) - closed
        if rest > 0:  # flipped: the remainder opens a position at the fill price
            self.qty = -sign * rest
            self.cost_usd = self.qty * price
        return realized

    def entry_price(self) -> Decimal:
        """Average entry price, quote units (0 when flat)."""
        return self.cost_usd / self.qty if self.qty else _ZERO


class Ledger:
    """USD collateral and holdings of one paper venue, valued at its current prices.

    Parameters
    ----------
    collateral_usd : Decimal
        Starting collateral, USD.
    instruments : Mapping[InstrumentId, Instrument]
        The venue's instruments (read, not copied).
    prices : Mapping[InstrumentId, Decimal]
        The venue's current prices, quote units (read, not copied: the venue updates them).
    perp_leverage : Decimal
        Initial margin = |perp notional| / leverage; > 0.
    """

    def __init__(
        self,
        collateral_usd: Decimal,
        instruments: Mapping[InstrumentId, Instrument],
        prices: Mapping[InstrumentId, Decimal],
        perp_leverage: Decimal,
    ) -> None:
        self.collateral_usd = collateral_usd
        self.holdings: dict[InstrumentId, Holding] = {}
        self._instruments = instruments
        self._prices = prices
        self._perp_leverage = perp_leverage

    def qty(self, instrument_id: InstrumentId) -> Decimal:
        """Signed quantity held, base units (0 when nothing is held)."""
        return self.holdings.get(instrument_id, Holding()).qty

    def book(
        self, instrument_id: InstrumentId, signed_qty: Decimal, price: Decimal, fee_usd: Decimal
    ) -> None:
        """Book a fill of ``signed_qty`` at ``price``: realized P&L less the fee on perps, cash
        (qty × price + fee) on spot."""
        realized = self.holdings.setdefault(instrument_id, Holding()).apply(signed_qty, price)
        if self._instruments[instrument_id].is_perp:
            self.collateral_usd += realized - fee_usd
        else:
            self.collateral_usd -= signed_qty * price + fee_usd

    def positions(self, now_ms: int) -> list[Position]:
        """Non-zero holdings; entry = average cost, mark = current price, sorted by id."""
        return [
            Position(iid, h.qty, h.entry_price(), self._prices[iid], now_ms)
            for iid, h in sorted(self.holdings.items())
            if h.qty != 0
        ]

    def balances(self, venue: str, now_ms: int) -> list[Balance]:
        """USD collateral as ``COLLATERAL_ASSET`` (available = max(0, available USD)), then
        each spot base asset held (summed over its spot instruments)."""
        available = max(_ZERO, self.available_usd())
        balances = [Balance(venue, COLLATERAL_ASSET, self.collateral_usd, available, now_ms)]
        assets: dict[str, Decimal] = {}
        for iid, holding in sorted(self.holdings.items()):
            if not self._instruments[iid].is_perp and holding.qty != 0:
                base = self._instruments[iid].base
                assets[base] = assets.get(base, _ZERO) + holding.qty
        balances += [Balance(venue, a, q, q, now_ms) for a, q in sorted(assets.items())]
        return balances

    def summary(self, venue: str, now_ms: int) -> AccountSummary:
        """Margin view at current prices (see :meth:`PaperVenue.account_summary`)."""
        equity, gross = self.equity_usd(), self.gross_usd()
        leverage = float(gross / equity) if equity > 0 else math.inf
        if gross == 0:
            leverage = 0.0
        return AccountSummary(
            venue=venue,
            collateral_usd=self.collateral_usd,
            equity_usd=equity,
            used_margin_usd=self.used_margin_usd(),
            gross_notional_usd=gross,
            leverage=leverage,
            ts_event_ms=now_ms,
            extra={"available_usd": str(self.available_usd())},
        )

    def free_margin_frac(self) -> float | None:
        """``available / equity`` in one pass over the holdings; None when equity ≤ 0."""
        unrealized = spot = perp_notional = _ZERO
        for iid, holding in self.holdings.items():
            if holding.qty == 0:
                continue
            price = self._prices[iid]
            if self._instruments[iid].is_perp:
                unrealized += holding.qty * price - holding.cost_usd
                perp_notional += abs(holding.qty) * price
            else:
                spot += holding.qty * price
        equity = self.collateral_usd + spot + unrealized
        if equity <= 0:
            return None
        used = perp_notional / self._perp_leverage
        return float((self.collateral_usd + unrealized - used) / equity)

    def _perps(self) -> list[tuple[Holding, Decimal]]:
        return [
            (h, self._prices[iid])
            for iid, h in self.holdings.items()
            if h.qty != 0 and self._instruments[iid].is_perp
        ]

    def unrealized_usd(self) -> Decimal:
        """Σ perp unrealized P&L at current prices, USD."""
        return sum((h.qty * price - h.cost_usd for h, price in self._perps()), _ZERO)

    def used_margin_usd(self) -> Decimal:
        """Σ |perp notional| / leverage at current prices, USD."""
        notional = sum((abs(h.qty) * price for h, price in self._perps()), _ZERO)
        return notional / self._perp_leverage

    def available_usd(self) -> Decimal:
        """Collateral + unrealized − used margin, USD (may be negative)."""
        return self.collateral_usd + self.unrealized_usd() - self.used_margin_usd()

    def spot_value_usd(self) -> Decimal:
        """Σ spot qty × current price, USD."""
        return sum(
            (
                h.qty * self._prices[iid]
                for iid, h in self.holdings.items()
                if h.qty != 0 and not self._instruments[iid].is_perp
            ),
            _ZERO,
        )

    def equity_usd(self) -> Decimal:
        """Collateral + spot value + perp unrealized, USD."""
        return self.collateral_usd + self.spot_value_usd() + self.unrealized_usd()

    def gross_usd(self) -> Decimal:
        """Σ |spot and perp notional| at current prices, USD."""
        perp = sum((abs(h.qty) * price for h, price in self._perps()), _ZERO)
        return self.spot_value_usd() + perp
