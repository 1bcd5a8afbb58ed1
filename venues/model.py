"""Normalized value types shared by every venue, strategy and the agent.

Every type here is a frozen, slotted dataclass, except the two market-data types of the
hottest input, :class:`MarkPrice` and :class:`FundingRate`: frozen ``msgspec.Struct`` s
(``gc=False``), built about ten times faster than a frozen dataclass (whose ``__init__``
goes through ``object.__setattr__`` per field; ``benchmarks/ws_ingest.py``). They behave
alike for their users: keyword or positional construction, equality, hashing, ``repr``,
pickling and immutability; copy one with changes by ``msgspec.structs.replace``, not
``dataclasses.replace``. Conventions (the project's design notes, "Money and units"):

- timestamps are integer epoch milliseconds UTC, named ``ts_*_ms``;
- quantities are in **base-asset units** (an adapter converts contracts at its boundary),
  signed where they describe a position (``> 0`` long, ``< 0`` short);
- prices and quantities at the order boundary are ``Decimal`` (already rounded to the
  instrument's tick / lot step); market-data prices are ``float`` (strategy math);
- a funding rate is a fraction **per funding interval**, always carried together with that
  interval in seconds; positive means longs pay shorts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

import msgspec

HOUR_S = 3_600
HOUR_MS = 3_600_000
YEAR_S = 365 * 24 * HOUR_S


class InstrumentKind(StrEnum):
    """Market type of an instrument."""

    SPOT = "spot"
    PERP = "perp"
    OPTION = "option"
    """A European option (:class:`OptionSpec`: underlying, expiry, strike, call/put), held
    outright like spot: premium paid or received in cash, valued at its mark, settled in cash at
    intrinsic value on expiry."""


class Side(StrEnum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """``+1`` for a buy, ``-1`` for a sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The other side."""
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    """Order type. LIMIT orders are IOC unless the venue supports resting orders."""

    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    """Time in force. ``POST_ONLY`` is a resting (GTC) LIMIT order that may only add
    liquidity: a venue refuses it (or cancels it at once, unfilled) when it would match on
    arrival, instead of filling it as taker (Binance USD-M ``GTX``, Binance spot
    ``LIMIT_MAKER``, Bybit ``PostOnly``, OKX ``post_only``, Hyperliquid ``Alo``, Deribit
    ``post_only`` + ``reject_post_only``; each adapter's order builder)."""

    GTC = "gtc"
    IOC = "ioc"
    POST_ONLY = "post_only"


class OrderStatus(StrEnum):
    """Order lifecycle state, normalized over venues."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        """True when no further fill can happen."""
        return self in (
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED,
        )


class Liquidity(StrEnum):
    """Whether a fill added (maker) or removed (taker) liquidity."""

    MAKER = "maker"
    TAKER = "taker"


class InstrumentId(str):
    """Key of one tradable instrument: venue, market kind and the venue's symbol.

    Binance lists spot and perp under the same symbol (``BTCUSDT``), hence the kind. The id
    *is* the string ``"binance:perp:BTCUSDT"`` (a ``str`` subclass): ids are dict keys on every
    hot path of the replay, and ``str`` hashing and equality run in C. Instances are immutable;
    :meth:`parse` reverses ``str()``.

    Parameters
    ----------
    venue : str
        Venue name (``binance``), no ``:``.
    kind : InstrumentKind
    symbol : str
        The venue's symbol (``BTCUSDT``, ``BTC`` on Hyperliquid), no ``:``.

    Raises
    ------
    ValueError
        If a part is empty or contains ``:``.
    """

    __slots__ = ()
    _parts: ClassVar[dict[str, tuple[str, InstrumentKind, str]]] = {}  # parts of each id

    def __new__(cls, venue: str, kind: InstrumentKind, symbol: str) -> InstrumentId:
        kind = InstrumentKind(kind)
        if not venue or not symbol or ":" in venue or ":" in symbol:
            raise ValueError(f"bad instrument id parts: venue={venue!r} symbol={symbol!r}")
        key = f"{venue}:{kind.value}:{symbol}"
        self = super().__new__(cls, key)
        cls._parts.setdefault(key, (venue, kind, symbol))
        return self

    def __getnewargs__(self) -> tuple[str, InstrumentKind, str]:  # type: ignore[override]
        return self._parts[str.__str__(self)]

    @property
    def venue(self) -> str:
        """Venue name."""
        return self._parts[self][0]

    @property
    def kind(self) -> InstrumentKind:
        """Spot or perp."""
        return self._parts[self][1]

    @property
    def symbol(self) -> str:
        """The venue's symbol."""
        return self._parts[self][2]

    def __str__(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"InstrumentId({self.venue!r}, {self.kind.value!r}, {self.symbol!r})"

    @classmethod
    def parse(cls, text: str) -> InstrumentId:
        """Parse ``"venue:kind:SYMBOL"``.

        Raises
        ------
        ValueError
            If the text does not have three ``:``-separated parts or the kind is unknown.
        """
        parts = text.split(":")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"instrument id {text!r} is not of the form venue:kind:SYMBOL")
        return cls(parts[0], InstrumentKind(parts[1]), parts[2])


@dataclass(frozen=True, slots=True)
class Instrument:
    """Trading rules of one instrument.

    Attributes
    ----------
    id : InstrumentId
    base, quote : str
        Asset codes (``BTC``, ``USDT``). P&L is accounted in USD; USDT and USDC count 1:1.
    tick_size : Decimal
        Price increment, quote units.
    lot_step : Decimal
        Quantity increment, base units.
    min_qty : Decimal
        Smallest order quantity, base units.
    min_notional_usd : Decimal
        Smallest order notional (qty × price), USD.
    contract_multiplier : Decimal
        Base units per venue contract (1 where the venue trades in base units).
    funding_interval_s : int | None
        Current funding interval in seconds for perps; ``None`` for spot.
    """

    id: InstrumentId
    base: str
    quote: str
    tick_size: Decimal
    lot_step: Decimal
    min_qty: Decimal
    min_notional_usd: Decimal
    contract_multiplier: Decimal = Decimal(1)
    funding_interval_s: int | None = None

    @property
    def is_perp(self) -> bool:
        """True for a perpetual swap."""
        return self.id.kind is InstrumentKind.PERP

    @property
    def is_option(self) -> bool:
        """True for an option (its terms: ``OptionSpec.parse(id.symbol)``)."""
        return self.id.kind is InstrumentKind.OPTION


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV candle. The bar covers ``[ts_open_ms, ts_close_ms)``; prices in quote units,
    ``volume`` in base units."""

    instrument_id: InstrumentId
    ts_open_ms: int
    ts_close_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class Quote:
    """Best bid and ask, quote units, observed at ``ts_event_ms``."""

    instrument_id: InstrumentId
    bid: float
    ask: float
    ts_event_ms: int

    @property
    def mid(self) -> float:
        """Mid price, quote units."""
        return (self.bid + self.ask) / 2.0


class MarkPrice(msgspec.Struct, frozen=True, gc=False):
    """Mark (and, where known, index) price of an instrument, quote units.

    A frozen ``msgspec.Struct`` (see the module docstring); ``gc=False``: it holds only
    strings and numbers, so it can be in no reference cycle.
    """

    instrument_id: InstrumentId
    mark_price: float
    ts_event_ms: int
    index_price: float | None = None


class FundingRate(msgspec.Struct, frozen=True, gc=False):
    """A funding rate for one settlement of a perp (a frozen ``msgspec.Struct``, as
    :class:`MarkPrice`).

    Attributes
    ----------
    rate : float
        Fraction of position notional per funding interval (0.0001 = 1 bp per interval).
        Positive: longs pay shorts.
    interval_s : int
        The funding interval this rate applies to, seconds (3600, 14400, 28800 all occur).
    ts_funding_ms : int
        Settlement time of this rate (past for a settled rate, future for a predicted one).
    ts_next_funding_ms : int
        The settlement after ``ts_funding_ms``, as the venue announced or as derived from
        the interval.
    mark_price : float | None
        Mark price at settlement when the venue reported it, quote units.
    """

    instrument_id: InstrumentId
    rate: float
    interval_s: int
    ts_funding_ms: int
    ts_next_funding_ms: int
    mark_price: float | None = None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A new order. ``qty`` is positive, base units, on the lot step; ``limit_price`` on tick.

    ``client_order_id`` is required and deterministic (see ``agent.execution.executor``);
    ``reference_price``
    is the price the agent saw when it decided (mid or last close), used for slippage
    attribution, quote units.
    """

    client_order_id: str
    instrument_id: InstrumentId
    side: Side
    qty: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.IOC
    reduce_only: bool = False
    reference_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``qty`` positive base units; ``price`` quote units; ``fee_usd`` positive
    when paid (a maker rebate is negative); ``reference_price`` is the price the agent saw when
    it decided, so ``(price − reference_price) × qty × side.sign`` is the slippage cost."""

    instrument_id: InstrumentId
    client_order_id: str
    venue_order_id: str
    trade_id: str
    side: Side
    qty: Decimal
    price: Decimal
    fee_usd: Decimal
    liquidity: Liquidity
    ts_event_ms: int
    reference_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OrderAck:
    """The venue's answer about one order: its state and any fills known at that moment.

    ``filled_qty`` base units; ``avg_price`` quote units (``None`` before any fill);
    ``reject_code``/``reject_reason`` set when ``status`` is REJECTED.
    """

    client_order_id: str
    venue_order_id: str
    instrument_id: InstrumentId
    side: Side
    status: OrderStatus
    qty: Decimal
    filled_qty: Decimal
    avg_price: Decimal | None
    ts_event_ms: int
    fills: tuple[Fill, ...] = ()
    reject_code: str | None = None
    reject_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """Net position on a venue. ``qty`` signed base units; prices quote units.

    ``liquidation_price`` is the mark price at which the venue would liquidate the position,
    quote units, as the venue reports it (cross margin: it moves with the account's other
    positions); None when the venue reports none — a spot holding, a position that cannot be
    liquidated (Binance reports ``"0"``, Bybit ``""``, Hyperliquid ``null``) or a venue whose
    API does not say (Purple Flea). The paper venue models it (:mod:`venues.paper.ledger`).
    """

    instrument_id: InstrumentId
    qty: Decimal
    entry_price: Decimal
    mark_price: Decimal
    ts_event_ms: int
    liquidation_price: Decimal | None = None

    @property
    def notional_usd(self) -> Decimal:
        """Signed notional at the mark price, USD."""
        return self.qty * self.mark_price


@dataclass(frozen=True, slots=True)
class Balance:
    """Account balance of one asset on one venue.

    ``total`` is wallet balance; ``available`` is what can be used for new orders (after
    margin in use), both in units of ``asset``.
    """

    venue: str
    asset: str
    total: Decimal
    available: Decimal
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """Funding settled on one position.

    ``amount_usd`` is signed from the account's view: positive received, negative paid.
    By construction ``amount_usd == -rate × position_qty × mark_price`` (longs pay shorts when
    the rate is positive).
    """

    instrument_id: InstrumentId
    ts_funding_ms: int
    rate: float
    interval_s: int
    position_qty: Decimal
    mark_price: Decimal
    amount_usd: Decimal


@dataclass(frozen=True, slots=True)
class VenueFees:
    """Fee schedule of a venue, fractions of notional (0.0005 = 5 bps)."""

    maker_frac: Decimal
    taker_frac: Decimal


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """Margin view of one venue account, USD.

    ``collateral_usd`` wallet balance incl. realized P&L; ``equity_usd`` adds unrealized P&L;
    ``used_margin_usd`` initial margin of open perp positions; ``leverage`` gross perp + spot
    notional over equity.
    """

    venue: str
    collateral_usd: Decimal
    equity_usd: Decimal
    used_margin_usd: Decimal
    gross_notional_usd: Decimal
    leverage: float
    ts_event_ms: int
    extra: dict[str, str] = field(default_factory=dict)


# --- options (venue-reported values; no pricing model here) -----------------------------


class OptionType(StrEnum):
    """Call or put."""

    CALL = "call"
    PUT = "put"


@dataclass(frozen=True, slots=True)
class OptionGreeks:
    """Greeks of one option contract **as the venue reports them** (Deribit: Black–Scholes on
    the forward ``underlying_price``, per 1 contract; nothing is recomputed here).

    Attributes
    ----------
    delta : float
        Change of the option price per 1 unit of underlying price move, in underlying units
        per contract (0.71 = 0.71 BTC per BTC option). Not premium-adjusted.
    gamma : float
        Change of ``delta`` per 1 USD move of the underlying.
    vega : float
        Change of the option value, USD, per 1 volatility point (1 % IV).
    theta : float
        Change of the option value, USD, per day.
    rho : float | None
        Change of the option value, USD, per 1 % rate; None where the venue omits it.
    """

    delta: float
    gamma: float
    vega: float
    theta: float
    rho: float | None = None


@dataclass(frozen=True, slots=True)
class OptionTicker:
    """Market state of one option, as the venue reports it.

    Prices are in the option's **quote currency** (the coin for inverse BTC/ETH options:
    ``0.2425`` = 0.2425 BTC per contract); ``index_price`` and ``underlying_price`` are USD.
    Implied volatilities are **fractions** (0.4543 = 45.43 %), converted from the venue's
    percent at its parser. ``best_bid``/``best_ask`` (and their IVs) are None when that side of
    the book is empty, never 0.

    Attributes
    ----------
    symbol : str
        The venue's instrument name (``BTC-26JUN26-100000-C``).
    ts_event_ms : int
    mark_price, index_price, underlying_price : float
    underlying_index : str
        What ``underlying_price`` is (a future's name, or ``index_price``).
    mark_iv_frac : float
    bid_iv_frac, ask_iv_frac : float | None
    best_bid, best_ask : float | None
    interest_rate : float
        Rate the venue used in its IV calculation (fraction).
    open_interest : float
        In contracts.
    greeks : OptionGreeks
    """

    symbol: str
    ts_event_ms: int
    mark_price: float
    index_price: float
    underlying_price: float
    underlying_index: str
    mark_iv_frac: float
    bid_iv_frac: float | None
    ask_iv_frac: float | None
    best_bid: float | None
    best_ask: float | None
    interest_rate: float
    open_interest: float
    greeks: OptionGreeks


@dataclass(frozen=True, slots=True)
class OptionMark:
    """Mark price and mark IV (fraction) of one option, from a venue's option-mark stream;
    ``mark_price`` in the option's quote currency."""

    symbol: str
    mark_price: float
    mark_iv_frac: float
    ts_event_ms: int


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
OPTION_EXPIRY_HOUR_UTC = 8
"""Options expire at 08:00 UTC (Deribit's expiry time; https://docs.deribit.com/,
``public/get_instruments``: ``expiration_timestamp``)."""


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """Terms of a European option, named as Deribit names its options:
    ``<BASE>-<DMMMYY>-<STRIKE>-<C|P>`` (``BTC-26JUN26-100000-C``: a BTC call struck at
    100 000 USD expiring 26 June 2026 at 08:00 UTC; https://docs.deribit.com/, "Instrument
    naming"). The symbol of an :class:`InstrumentId` of kind ``OPTION`` is this name; its
    :class:`Instrument` holds the contract size (``contract_multiplier``, coins per contract;
    quantities stay in base units, i.e. coins of underlying).

    Attributes
    ----------
    base : str
        Underlying asset (``BTC``).
    expiry_ms : int
        Expiry, epoch ms UTC (08:00 UTC of the expiry day).
    strike_usd : Decimal
        Strike, USD per coin, > 0.
    option_type : OptionType
    """

    base: str
    expiry_ms: int
    strike_usd: Decimal
    option_type: OptionType

    @property
    def is_call(self) -> bool:
        """True for a call."""
        return self.option_type is OptionType.CALL

    @property
    def symbol(self) -> str:
        """The option's name, ``BTC-26JUN26-100000-C``."""
        day = _utc_date(self.expiry_ms)
        expiry = f"{day.day}{_MONTHS[day.month - 1]}{day.year % 100:02d}"
        strike = format(self.strike_usd.normalize(), "f")
        return f"{self.base}-{expiry}-{strike}-{'C' if self.is_call else 'P'}"

    def intrinsic_usd(self, underlying_usd: Decimal) -> Decimal:
        """Value at expiry per coin: ``max(S − K, 0)`` for a call, ``max(K − S, 0)`` for a put,
        USD (``underlying_usd`` the settlement price, USD per coin)."""
        payoff = underlying_usd - self.strike_usd
        return max(payoff if self.is_call else -payoff, Decimal(0))

    @classmethod
    def parse(cls, symbol: str) -> OptionSpec:
        """Read an option name (see the class docstring).

        Raises
        ------
        ValueError
            A name that is not ``BASE-DMMMYY-STRIKE-C|P``, an unknown month or day, or a
            strike that is not a positive number; the message quotes the name.
        """
        parts = symbol.split("-")
        try:
            base, expiry, strike_text, kind = parts
            day, month, year = int(expiry[:-5]), _MONTHS.index(expiry[-5:-2]), int(expiry[-2:])
            strike = Decimal(strike_text)
            expiry_ms = _expiry_ms(2000 + year, month + 1, day)
        except (ValueError, ArithmeticError) as err:
            raise ValueError(f"option symbol {symbol!r} is not BASE-DMMMYY-STRIKE-C|P") from err
        if not base or kind not in ("C", "P") or not (strike.is_finite() and strike > 0):
            raise ValueError(f"option symbol {symbol!r} is not BASE-DMMMYY-STRIKE-C|P")
        option_type = OptionType.CALL if kind == "C" else OptionType.PUT
        return cls(base, expiry_ms, strike, option_type)


def _utc_date(ts_ms: int) -> date:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).date()


def _expiry_ms(year: int, month: int, day: int) -> int:
    expiry = datetime(year, month, day, OPTION_EXPIRY_HOUR_UTC, tzinfo=UTC)
    return int(expiry.timestamp()) * 1000


def all_positive_floats(values: Iterable[object]) -> bool:
    """Whether every one of ``values`` is a ``float``, finite and > 0 — a price as given,
    nothing to convert or refuse (NaN compares False; a zero is not: ``-0.0`` and ``0.0``
    differ in bits). A step's prices and volumes are checked with it before being taken in
    one call."""
    inf = math.inf
    for value in values:  # a loop: all() of a generator costs twice as much
        if type(value) is not float or not 0.0 < value < inf:
            break
    else:
        return True
    return False


def liquidation_price_or_none(price: Decimal | None) -> Decimal | None:
    """A venue's liquidation price field as :attr:`Position.liquidation_price`: ``None`` for
    no price or one ≤ 0 (venues report ``0`` for a position that cannot be liquidated)."""
    return price if price is not None and price > 0 else None


def funding_rate_per_hour(rate: float, interval_s: int) -> float:
    """Normalize a per-interval funding rate to a rate per hour (fraction / h).

    The one place where funding rates of different intervals are made comparable.

    Raises
    ------
    ValueError
        If ``interval_s`` is not positive.
    """
    if interval_s <= 0:
        raise ValueError(f"funding interval_s must be positive, got {interval_s}")
    return rate * HOUR_S / interval_s


def funding_apr(rate: float, interval_s: int) -> float:
    """Annualize a per-interval funding rate, simple (not compounded), 365-day year.

    ``funding_apr(0.0001, 28_800) == 0.1095`` (0.01 % per 8h ≈ 10.95 % APR).
    """
    return funding_rate_per_hour(rate, interval_s) * (YEAR_S / HOUR_S)


_QUOTE_SUFFIXES = (
    "-USDT-SWAP", "-USDC-SWAP", "-USD-SWAP", "-USDT", "-USDC", "-USD", "-PERP",
    "USDT", "USDC", "BUSD", "USD",
)  # fmt: skip


@functools.lru_cache(maxsize=4096)
def base_asset(symbol: str) -> str:
    """Base asset of a venue symbol: ``BTCUSDT`` → ``BTC``, ``ETH-USDT-SWAP`` → ``ETH``,
    ``SOL`` (Hyperliquid coin) → ``SOL``. Use ``Instrument.base`` when the instrument is at
    hand; this is for symbols alone. Memoized (a pure function of the symbol, asked for
    every held instrument on every cycle)."""
    for suffix in _QUOTE_SUFFIXES:
        if symbol.endswith(suffix) and len(symbol) > len(suffix):
            return symbol[: -len(suffix)]
    return symbol
