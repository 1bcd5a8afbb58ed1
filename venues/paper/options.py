"""Options on the paper venue: listing them as they are first traded, and settling them at
expiry.

Kept apart from the order filling (:mod:`venues.paper.orders`), which fills an option like any
instrument — at the fed price, as taker, with the spot fee schedule — and books it in
:class:`venues.paper.ledger.Ledger` as a holding outside margin, like spot: the premium is paid
from (buy) or credited to (sell) the collateral, the holding is worth qty × price in equity. A
short option is a negative holding (the order desk lets an option be sold short); the paper
venue asks no margin for it (it models none for options).

Expiry (European, cash-settled, as Deribit's options): at the first price after the expiry time
each holding is closed at its intrinsic value (:meth:`venues.model.OptionSpec.intrinsic_usd` of
the settlement price), with no fee, by one :class:`Fill` per holding whose trade id names the
expiry: ``expiry-<symbol>``. That fill is the whole settlement: the agent's ledger books the same
fills (one per strategy) and the P&L identity needs nothing else
(https://docs.deribit.com/, "Settlement" of options: cash-settled at the delivery price).
"""

from __future__ import annotations

from decimal import Decimal

from venues.model import Fill, Instrument, Liquidity, OptionSpec, Side
from venues.paper.ledger import Ledger

__all__ = ["expiry_fill", "settle_expired"]

EXPIRY_ORDER_ID = "expiry"
"""``venue_order_id`` of every expiry settlement fill."""


def expiry_fill(
    instrument: Instrument,
    held_qty: Decimal,
    settlement_usd: Decimal,
    ts_ms: int,
    *,
    client_order_id: str,
    trade_id: str,
) -> Fill:
    """The fill that closes ``held_qty`` (signed, base units, ≠ 0) of an expired option at its
    intrinsic value of ``settlement_usd`` (the underlying's settlement price, USD): the
    opposite side, price = reference = intrinsic (may be 0), fee 0.

    Raises
    ------
    ValueError
        If ``held_qty`` is 0 or the instrument is not an option.
    """
    if held_qty == 0 or not instrument.is_option:
        raise ValueError(f"no option holding to settle in {instrument.id}: qty {held_qty}")
    intrinsic = OptionSpec.parse(instrument.id.symbol).intrinsic_usd(settlement_usd)
    side = Side.SELL if held_qty > 0 else Side.BUY
    return Fill(
        instrument.id,
        client_order_id,
        EXPIRY_ORDER_ID,
        trade_id,
        side,
        abs(held_qty),
        intrinsic,
        Decimal(0),
        Liquidity.TAKER,
        ts_ms,
        reference_price=intrinsic,
    )


def settle_expired(
    ledger: Ledger, instrument: Instrument, settlement_usd: Decimal, ts_ms: int
) -> Fill | None:
    """Close the venue's holding of an expired option at intrinsic value (module docstring);
    returns the fill, or None when nothing is held."""
    held = ledger.qty(instrument.id)
    if held == 0:
        return None
    symbol = instrument.id.symbol
    fill = expiry_fill(
        instrument,
        held,
        settlement_usd,
        ts_ms,
        client_order_id=f"expiry-{symbol}",
        trade_id=f"expiry-{symbol}",
    )
    ledger.book(instrument.id, fill.side.sign * fill.qty, fill.price, fill.fee_usd)
    return fill
