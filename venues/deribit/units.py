"""Deribit's units ↔ the common model's units, at the venue boundary and nowhere else.

The common model (:mod:`venues.model`) counts quantities in **base units** (coins) and prices
in **USD per coin**. Deribit counts three ways (https://docs.deribit.com/#private-buy,
``amount``; https://docs.deribit.com/#public-get_instruments, ``contract_size``):

* **linear perpetuals** (``BTC_USDC-PERPETUAL``, ``instrument_type: linear``): ``amount`` in
  coin, price in USDC per coin — identical to the common units;
* **inverse perpetuals** (``BTC-PERPETUAL`` / ``ETH-PERPETUAL``, ``reversed``): ``amount`` in
  **USD**, whole contracts of ``contract_size`` = 10 USD; price in USD per coin. A base
  quantity ``q`` at price ``P`` is ``q × P`` USD, rounded to the nearest whole contract
  (:func:`inverse_amount_usd`; nothing below one contract is sent); an amount of ``A`` USD
  filled at ``P`` is ``A / P`` coins (:func:`inverse_base_qty`). The USD P&L of such a
  position closed at ``P1`` equals the linear P&L of ``A / P0`` coins (``A(1/P0 − 1/P1)``
  coin × ``P1`` = ``(A/P0)(P1 − P0)``), so the ledger books it as a linear position of the
  filled coins; what differs is that the venue's coin exposure of an open position is
  ``A / P_now`` (its ``size_currency``), which moves with the price — a reconciliation
  compares against that, within the rounding of one contract;
* **inverse options** (``BTC-27DEC24-100000-C``): ``amount`` in coin (contracts of 1 coin),
  prices **in the coin** (0.2425 BTC per contract). A USD price is the coin price × the index
  price (``btc_usd``) the venue reports with it — the trade's ``index_price`` for a fill (the
  USD value of the coin premium that changed hands), the ticker's ``index_price`` for a mark
  or quote — and a USD limit becomes ``price_usd / index`` rounded to the option's tick
  (``tick_size_steps``) **away from the market** (a buy down, a sell up: never a worse price
  than asked).

Linear USDC options (``XRP_USDC-30JUN23-0d625-C``) are not served through the common model.
"""

from __future__ import annotations

import dataclasses
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from venues.deribit import constants as c
from venues.deribit.types import DeribitInstrument
from venues.model import (
    Fill,
    Instrument,
    InstrumentId,
    InstrumentKind,
    OptionSpec,
    OrderAck,
    Side,
)

BASE_QTY_QUANTUM = Decimal("1e-12")
"""Base quantities converted from USD amounts are rounded to 1e-12 coin (half-even)."""
OPTION_TICK_USD = Decimal("0.01")
"""Common tick of an option's USD price; the coin tick is applied when the order is sent."""


def instrument_id(contract: DeribitInstrument) -> InstrumentId | None:
    """Our id of a Deribit instrument the common model trades — ``deribit:perp:<name>`` for a
    perpetual (linear or inverse), ``deribit:option:<name>`` for an inverse option — else
    None (dated futures, linear options, combos, spot)."""
    if contract.kind == c.KIND_FUTURE and contract.is_perpetual:
        return InstrumentId(c.VENUE, InstrumentKind.PERP, contract.name)
    if contract.kind == c.KIND_OPTION and contract.is_inverse:
        try:
            OptionSpec.parse(contract.name)
        except ValueError:
            return None
        return InstrumentId(c.VENUE, InstrumentKind.OPTION, contract.name)
    return None


def inverse_lot_step(contract_usd: Decimal, price_usd: Decimal) -> Decimal:
    """Base-unit lot step (and minimum) of an inverse perpetual: one contract's coins at
    ``price_usd`` (``contract_usd / price``) rounded **up** to one significant digit, so one
    lot is never less than one contract (10 USD at 60,000 → 0.0002 BTC).

    Raises
    ------
    ValueError
        If ``price_usd`` or ``contract_usd`` is not positive.
    """
    if price_usd <= 0 or contract_usd <= 0:
        raise ValueError(f"contract {contract_usd} USD at price {price_usd}: both must be > 0")
    coins = contract_usd / price_usd
    exponent = coins.adjusted()
    quantum = Decimal(1).scaleb(exponent)
    return coins.quantize(quantum, rounding=ROUND_CEILING).normalize()


def common_instrument(contract: DeribitInstrument, price_usd: Decimal | None) -> Instrument | None:
    """The common :class:`~venues.model.Instrument` of ``contract`` (see the module docstring).

    ``price_usd`` is a recent price of an inverse perpetual (its lot step is one contract's
    coins at that price, :func:`inverse_lot_step`); ignored otherwise. None for what the
    common model does not trade, and for an inverse perpetual without a price.
    """
    iid = instrument_id(contract)
    if iid is None:
        return None
    if iid.kind is InstrumentKind.OPTION:
        return Instrument(
            id=iid,
            base=contract.base,
            quote="USD",
            tick_size=OPTION_TICK_USD,
            lot_step=contract.min_trade_amount,
            min_qty=contract.min_trade_amount,
            min_notional_usd=Decimal(0),
            contract_multiplier=contract.contract_size,
        )
    step = contract.min_trade_amount
    if contract.is_inverse:
        if price_usd is None:
            return None
        step = inverse_lot_step(contract.contract_size, price_usd)
    return Instrument(
        id=iid,
        base=contract.base,
        quote=contract.quote,
        tick_size=contract.tick_size,
        lot_step=step,
        min_qty=step,
        min_notional_usd=Decimal(0),
        contract_multiplier=Decimal(1),
        funding_interval_s=c.FUNDING_INTERVAL_S,
    )


def inverse_amount_usd(qty_base: Decimal, price_usd: Decimal, contract_usd: Decimal) -> Decimal:
    """USD ``amount`` of an inverse perpetual order for ``qty_base`` coins at ``price_usd``:
    ``qty × price`` rounded half-even to a whole number of ``contract_usd`` contracts (0 when
    less than half a contract)."""
    contracts = (qty_base * price_usd / contract_usd).quantize(Decimal(1), ROUND_HALF_EVEN)
    return contracts * contract_usd


def inverse_base_qty(amount_usd: Decimal, price_usd: Decimal) -> Decimal:
    """Coins of ``amount_usd`` USD of an inverse contract at ``price_usd`` (``A / P``, rounded
    to :data:`BASE_QTY_QUANTUM`); 0 for a zero amount.

    Raises
    ------
    ValueError
        If ``amount_usd`` is not zero and ``price_usd`` is not positive.
    """
    if amount_usd == 0:
        return Decimal(0)
    if price_usd <= 0:
        raise ValueError(f"cannot convert {amount_usd} USD at price {price_usd}")
    return (amount_usd / price_usd).quantize(BASE_QTY_QUANTUM, ROUND_HALF_EVEN)


def option_price_coin(
    price_usd: Decimal, index_usd: Decimal, contract: DeribitInstrument, side: Side
) -> Decimal:
    """The coin limit price of an option order at ``price_usd`` USD per coin: ``price_usd /
    index_usd`` on the option's tick at that price, rounded down for a buy and up for a sell,
    at least one tick.

    Raises
    ------
    ValueError
        If ``index_usd`` is not positive.
    """
    if index_usd <= 0:
        raise ValueError(f"index price {index_usd} must be > 0")
    coin = price_usd / index_usd
    tick = contract.tick_for(coin)
    rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    steps = (coin / tick).quantize(Decimal(1), rounding)
    return max(steps, Decimal(1)) * tick


def fill_to_common(fill: Fill, contract: DeribitInstrument, index_usd: Decimal) -> Fill:
    """A fill parsed in venue units (``qty`` = ``amount``, ``price`` quote units) in common
    units: an inverse perpetual's USD amount → coins at the fill price; an option's coin price
    → USD at ``index_usd`` (the trade's ``index_price``). Fees are already USD
    (:func:`venues.deribit.parse_account.parse_trade`)."""
    if contract.kind == c.KIND_OPTION:
        return dataclasses.replace(fill, price=fill.price * index_usd)
    if contract.is_inverse:
        return dataclasses.replace(fill, qty=inverse_base_qty(fill.qty, fill.price))
    return fill


def ack_to_common(
    ack: OrderAck,
    contract: DeribitInstrument,
    order_price: Decimal | None,
    index_usd: Decimal | None,
) -> OrderAck:
    """An order parsed in venue units in common units; its fills must already be common
    (:func:`fill_to_common`).

    Inverse perpetual: ``qty`` = amount / ``order_price`` (the price it was sized at, else its
    average or limit price), ``filled_qty`` = the fills' coins when they are known, else
    ``filled_amount / average_price``. Option: ``avg_price`` in USD — the fills' qty-weighted
    USD price when known, else the coin average × ``index_usd`` (None without an index).
    Linear: unchanged.
    """
    if contract.kind == c.KIND_OPTION:
        avg = _fills_avg(ack.fills)
        if avg is None and ack.avg_price is not None:
            avg = None if index_usd is None else ack.avg_price * index_usd
        return dataclasses.replace(ack, avg_price=avg if ack.filled_qty > 0 else None)
    if not contract.is_inverse:
        return ack
    size_price = order_price or ack.avg_price
    qty = ack.qty if size_price is None else inverse_base_qty(ack.qty, size_price)
    if ack.fills:
        filled = sum((f.qty for f in ack.fills), Decimal(0))
    elif ack.avg_price:
        filled = inverse_base_qty(ack.filled_qty, ack.avg_price)
    else:
        filled = Decimal(0)
    return dataclasses.replace(ack, qty=max(qty, filled), filled_qty=filled)


def _fills_avg(fills: tuple[Fill, ...]) -> Decimal | None:
    qty = sum((f.qty for f in fills), Decimal(0))
    if qty == 0:
        return None
    return sum((f.qty * f.price for f in fills), Decimal(0)) / qty
