"""Account of the paper venue: the USD collateral pool, the holdings booked against it and the
margin arithmetic over them (equity, unrealized P&L, used margin, available, gross notional,
maintenance margin and each perp's liquidation price).

Moved from :mod:`venues.paper.venue`, whose "Accounting" section states the model: exact
``Decimal``; spot holdings are not margin collateral (as in Binance's separate spot and futures
wallets); used margin is Σ |perp notional| / leverage at current prices. :class:`Ledger` owns
the collateral and the holdings and reads the venue's instrument and price maps (shared with
the venue, never copied).

Liquidation (one cross-margin account, as zerobeta sets live accounts up): the account is
liquidated when its margin balance (collateral + Σ perp unrealized P&L) falls to its
maintenance margin (Σ |perp notional| × the flat maintenance margin rate). A perp's
liquidation price is the mark price at which that happens with every other position at its
current price — Binance's USDⓈ-M cross-margin formula with a flat rate (maintenance amount 0),
:func:`cross_liquidation_price`. The paper venue reports the price; it does not liquidate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from venues.model import AccountSummary, Balance, Instrument, InstrumentId, Position

__all__ = [
    "COLLATERAL_ASSET",
    "Holding",
    "Ledger",
    "cross_liquidation_price",
    "cross_liquidation_prices",
]

COLLATERAL_ASSET = "USDT"
"""Asset code of the USD collateral in :meth:`PaperVenue.fetch_balances`."""

_ZERO = Decimal(0)
_K = TypeVar("_K")


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


def cross_liquidation_price(
    qty: Decimal, price: Decimal, excess_margin_usd: Decimal, maintenance_margin_frac: Decimal
) -> Decimal | None:
    """Liquidation price of one perp in a cross-margin account, quote units.

    Binance USDⓈ-M, cross margin, one-way mode ("How to Calculate Liquidation Price of USDⓈ-M
    Futures Contracts", https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93):
    ``LP = (WB − TMM1 + UPNL1 + cumB − Side1 × Position1 × EP1) / (Position1 × MMR1 − Side1 ×
    Position1)`` with a flat rate (maintenance amount ``cumB = 0``). Writing the other
    contracts' terms and this one's at the current price ``P`` as the account's *excess
    margin* ``E = WB + Σ unrealized − Σ maintenance margin`` (all at current prices), the same
    equation reads ``LP = P − Side1 × E / (Position1 × (1 − Side1 × MMR1))``: the price move of
    this contract alone that takes the margin balance down to the maintenance margin. One pass
    over the account gives ``E``, then each contract's price (:func:`cross_liquidation_prices`).

    Parameters
    ----------
    qty : Decimal
        Signed position, base units (> 0 long).
    price : Decimal
        Its current (mark) price, quote units.
    excess_margin_usd : Decimal
        ``E``: collateral + Σ perp unrealized P&L − Σ |perp notional| × rate, USD, at current
        prices (≤ 0: the account is at or past its liquidation).
    maintenance_margin_frac : Decimal
        The flat maintenance margin rate, fraction of notional, in ``[0, 1)``.

    Returns
    -------
    Decimal | None
        The price, or None when flat or when it is ≤ 0 (a long the account can carry to a zero
        price: it cannot be liquidated).
    """
    ((_, _, _, liquidation),) = cross_liquidation_prices(
        [(None, qty, price)], excess_margin_usd, maintenance_margin_frac
    )
    return liquidation


def cross_liquidation_prices(
    perps: Iterable[tuple[_K, Decimal, Decimal]],
    excess_margin_usd: Decimal,
    maintenance_margin_frac: Decimal,
) -> list[tuple[_K, Decimal, Decimal, Decimal | None]]:
    """:func:`cross_liquidation_price` of each ``(key, qty, price)`` of one account's perps
    (signed base units, quote units), as ``(key, qty, price, liquidation price or None)`` in
    the same order; ``1 − Side × MMR`` is worked out once for each side, not per perp."""
    divisor = {side: 1 - side * maintenance_margin_frac for side in (1, -1)}
    readings: list[tuple[_K, Decimal, Decimal, Decimal | None]] = []
    for key, qty, price in perps:
        if qty == 0:
            readings.append((key, qty, price, None))
            continue
        side = 1 if qty > 0 else -1
        liquidation = price - side * (excess_margin_usd / (abs(qty) * divisor[side]))
        readings.append((key, qty, price, liquidation if liquidation > 0 else None))
    return readings


class Ledger:
    """USD collateral and holdings of one paper venue, valued at its current prices.

    Parameters
    ----------
    collateral_usd : Decimal
        Starting collateral, USD.
    instruments : Mapping[InstrumentId, Instrument]
        The venue's instruments (read, not copied; fixed once the ledger is built).
    prices : Mapping[InstrumentId, Decimal]
        The venue's current prices, quote units (read, not copied: the venue updates them).
    perp_leverage : Decimal
        Initial margin = |perp notional| / leverage; > 0.
    maintenance_margin_frac : Decimal
        Maintenance margin rate of every perp, fraction of notional (the module docstring).
    """

    def __init__(
        self,
        collateral_usd: Decimal,
        instruments: Mapping[InstrumentId, Instrument],
        prices: Mapping[InstrumentId, Decimal],
        perp_leverage: Decimal,
        maintenance_margin_frac: Decimal = _ZERO,
    ) -> None:
        self.collateral_usd = collateral_usd
        self.holdings: dict[InstrumentId, Holding] = {}
        self._instruments = instruments
        self._prices = prices
        self._perp_leverage = perp_leverage
        self._mmr = maintenance_margin_frac
        self._perp_ids = frozenset(i for i, inst in instruments.items() if inst.is_perp)

    def qty(self, instrument_id: InstrumentId) -> Decimal:
        """Signed quantity held, base units (0 when nothing is held)."""
        holding = self.holdings.get(instrument_id)
        return _ZERO if holding is None else holding.qty

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
        """Non-zero holdings; entry = average cost, mark = current price, sorted by id; a perp's
        liquidation price from :meth:`liquidation_prices` (None for spot)."""
        liquidation, prices = self.liquidation_prices(), self._prices
        return [
            Position(iid, h.qty, h.entry_price(), prices[iid], now_ms, liquidation.get(iid))
            for iid, h in sorted(self.holdings.items())
            if h.qty != 0
        ]

    def liquidation_prices(self) -> dict[InstrumentId, Decimal]:
        """Each open perp's liquidation price at current prices (:func:`cross_liquidation_price`
        with this account's excess margin); perps that cannot be liquidated are left out.
        Quote units."""
        return {iid: price for iid, _, _, price in self.perp_readings() if price is not None}

    def perp_readings(self) -> list[tuple[InstrumentId, Decimal, Decimal, Decimal | None]]:
        """Each open perp as ``(id, signed qty, current price, liquidation price or None)``
        (base units, quote units: the perp figures of :meth:`positions`, without building
        positions), sorted by id."""
        perps: list[tuple[InstrumentId, Decimal, Decimal]] = []
        excess, mmr, prices, perp_ids = self.collateral_usd, self._mmr, self._prices, self._perp_ids
        for iid, holding in self.holdings.items():
            qty = holding.qty
            if qty == 0 or iid not in perp_ids:
                continue
            price = prices[iid]
            notional = qty * price  # abs(notional) is abs(qty) * price: rounding is sign-symmetric
            excess += notional - holding.cost_usd - abs(notional) * mmr
            perps.append((iid, qty, price))
        return cross_liquidation_prices(sorted(perps), excess, mmr)

    def maintenance_margin_usd(self) -> Decimal:
        """Σ |perp notional| × maintenance margin rate at current prices, USD."""
        notional = sum((abs(h.qty) * price for h, price in self._perps()), _ZERO)
        return notional * self._mmr

    def balances(self, venue: str, now_ms: int) -> list[Balance]:
        """USD collateral as ``COLLATERAL_ASSET`` (available = max(0, available USD)), then
        each spot base asset held (summed over its spot instruments)."""
        available = max(_ZERO, self.available_usd())
        balances = [Balance(venue, COLLATERAL_ASSET, self.collateral_usd, available, now_ms)]
        assets: dict[str, Decimal] = {}
        for iid, holding in sorted(self.holdings.items()):
            inst = self._instruments[iid]
            if not (inst.is_perp or inst.is_option) and holding.qty != 0:
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
            extra={
                "available_usd": str(self.available_usd()),
                "maintenance_margin_usd": str(self.maintenance_margin_usd()),
            },
        )

    def free_margin_frac(self) -> float | None:
        """``available / equity`` in one pass over the holdings; None when equity ≤ 0."""
        unrealized = spot = perp_notional = _ZERO
        prices, perp_ids = self._prices, self._perp_ids
        for iid, holding in self.holdings.items():
            qty = holding.qty
            if qty == 0:
                continue
            value = qty * prices[iid]
            if iid in perp_ids:
                unrealized += value - holding.cost_usd
                perp_notional += abs(value)  # abs(qty) * price, to the digit
            else:
                spot += value
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

    def _perp_sums(self) -> tuple[Decimal, Decimal]:
        """(Σ perp unrealized P&L, Σ |perp notional|) at current prices, USD, in one pass over
        the open perp holdings (every order's funds check reads both)."""
        unrealized = notional = _ZERO
        prices, perp_ids = self._prices, self._perp_ids
        for iid, holding in self.holdings.items():
            qty = holding.qty
            if qty == 0 or iid not in perp_ids:
                continue
            value = qty * prices[iid]
            unrealized += value - holding.cost_usd
            notional += abs(value)  # abs(qty) * price, to the digit
        return unrealized, notional

    def unrealized_usd(self) -> Decimal:
        """Σ perp unrealized P&L at current prices, USD."""
        return self._perp_sums()[0]

    def used_margin_usd(self) -> Decimal:
        """Σ |perp notional| / leverage at current prices, USD."""
        return self._perp_sums()[1] / self._perp_leverage

    def available_usd(self) -> Decimal:
        """Collateral + unrealized − used margin, USD (may be negative)."""
        unrealized, notional = self._perp_sums()
        return self.collateral_usd + unrealized - notional / self._perp_leverage

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
