"""Deribit's own value types (frozen, slotted, in ``venues.model`` style): what the common
model has no place for — options and inverse contracts, amounts in the venue's units, the
account's greeks.

Units: ``amount`` is Deribit's order/position size — **coin** (contracts of
``contract_size``) for options and linear (``*_USDC``) instruments, **USD** for inverse
futures/perpetuals (``BTC-PERPETUAL``: multiples of 10 USD). Prices are in the instrument's
quote currency (the coin for inverse options). Times are epoch ms UTC. Source: the method
pages of https://docs.deribit.com/ cited on each type.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from venues.model import OptionGreeks, OptionType, OrderType, Side


@dataclass(frozen=True, slots=True)
class TickSizeStep:
    """From ``above_price`` (quote units) upward, prices move by ``tick_size``."""

    above_price: Decimal
    tick_size: Decimal


@dataclass(frozen=True, slots=True)
class DeribitInstrument:
    """One row of ``public/get_instruments`` (https://docs.deribit.com/#public-get_instruments;
    fixtures ``get_instruments_btc_option.json``, ``get_instruments_eth_option_recorded.json``).

    Attributes
    ----------
    name : str
        ``instrument_name`` (``BTC-27DEC24-100000-C``, ``BTC-PERPETUAL``).
    kind : str
        ``option``, ``future`` (perpetuals are futures with ``settlement_period`` perpetual),
        ``spot``, ``future_combo``, ``option_combo``.
    is_inverse : bool
        ``instrument_type == "reversed"`` (coin-margined); False for linear.
    base, quote, settlement_currency : str
    option_type : OptionType | None
        Options only.
    strike : Decimal | None
        Options only, in ``counter_currency`` (USD).
    ts_expiry_ms : int
        ``expiration_timestamp`` (options/futures expire 08:00 UTC; perpetuals: year 3000).
    contract_size : Decimal
        Base units per contract (options 1 coin; inverse perps 10 USD).
    tick_size : Decimal
        Price step below the first :attr:`tick_size_steps` threshold, quote units.
    tick_size_steps : tuple[TickSizeStep, ...]
    min_trade_amount : Decimal
        Smallest order ``amount`` and its step, venue units (see module docstring).
    settlement_period : str
        ``day``, ``week``, ``month``, ``perpetual`` ...
    is_active : bool
    price_index : str
        ``btc_usd`` ...
    maker_fee_frac, taker_fee_frac : Decimal
        ``maker_commission``/``taker_commission``.
    """

    name: str
    kind: str
    is_inverse: bool
    base: str
    quote: str
    settlement_currency: str
    option_type: OptionType | None
    strike: Decimal | None
    ts_expiry_ms: int
    contract_size: Decimal
    tick_size: Decimal
    tick_size_steps: tuple[TickSizeStep, ...]
    min_trade_amount: Decimal
    settlement_period: str
    is_active: bool
    price_index: str
    maker_fee_frac: Decimal
    taker_fee_frac: Decimal

    @property
    def is_perpetual(self) -> bool:
        """True for a perpetual (a future whose settlement period is ``perpetual``)."""
        return self.settlement_period == "perpetual"

    def tick_for(self, price: Decimal) -> Decimal:
        """The price step that applies at ``price`` (quote units): the step of the highest
        ``above_price`` that ``price`` reaches, else :attr:`tick_size`."""
        tick = self.tick_size
        for step in sorted(self.tick_size_steps, key=lambda s: s.above_price):
            if price >= step.above_price:
                tick = step.tick_size
        return tick


@dataclass(frozen=True, slots=True)
class DeribitOrderRequest:
    """``private/buy`` / ``private/sell`` in the venue's units
    (https://docs.deribit.com/#private-buy).

    ``label`` is our client order id (≤ 64 characters; Deribit does not enforce uniqueness, the
    client does). ``amount`` in venue units (module docstring), ``price`` in quote units (None
    for a market order). ``valid_until_ms``: epoch ms after which the matching engine refuses
    the request (``13888 timed_out``: not placed).
    """

    label: str
    instrument_name: str
    side: Side
    amount: Decimal
    order_type: OrderType = OrderType.LIMIT
    price: Decimal | None = None
    time_in_force: str = "good_til_cancelled"
    post_only: bool = False
    reduce_only: bool = False
    valid_until_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DeribitPosition:
    """One row of ``private/get_positions`` (https://docs.deribit.com/#private-get_positions;
    fixtures ``get_positions.json``, ``get_positions_option_constructed.json``).

    ``size`` signed venue units (USD for inverse futures, coin for options/linear; > 0 long);
    ``size_currency`` signed coin equivalent (futures only); prices quote units; ``delta`` as
    the venue reports it (coin); ``greeks`` for options (``delta``, ``gamma``, ``vega``,
    ``theta`` of the whole position), else None; P&L fields in the settlement currency;
    ``average_price_usd`` the entry price in USD (options only; None elsewhere).
    """

    instrument_name: str
    kind: str
    size: Decimal
    size_currency: Decimal | None
    average_price: Decimal
    mark_price: Decimal
    index_price: Decimal
    delta: float
    greeks: OptionGreeks | None
    floating_profit_loss: Decimal
    realized_profit_loss: Decimal
    total_profit_loss: Decimal
    realized_funding: Decimal | None
    estimated_liquidation_price: Decimal | None
    average_price_usd: Decimal | None = None


@dataclass(frozen=True, slots=True)
class DeribitAccountSummary:
    """``private/get_account_summary`` or a ``user.portfolio.{currency}`` push
    (https://docs.deribit.com/#private-get_account_summary,
    https://docs.deribit.com/#user-portfolio-currency; fixtures ``get_account_summary.json``,
    ``ws_user_portfolio.json``). Amounts in ``currency``.

    ``delta_total`` is Deribit's premium-adjusted account delta (Net Transaction Delta),
    ``projected_delta_total`` excludes what expires at the next expiry; ``options_*`` are the
    account's option greeks as the venue sums them.
    """

    currency: str
    equity: Decimal
    balance: Decimal
    margin_balance: Decimal
    available_funds: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    delta_total: float
    projected_delta_total: float
    options_delta: float
    options_gamma: float
    options_vega: float
    options_theta: float
    margin_model: str
