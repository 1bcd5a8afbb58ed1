"""The ``Venue`` protocol every exchange adapter, the paper venue and test fakes satisfy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from pydantic import SecretStr

from venues.model import (
    Balance,
    Bar,
    Fill,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    MarkPrice,
    OptionTicker,
    OrderAck,
    OrderRequest,
    Position,
    Quote,
)

AccountEvent = OrderAck | Fill | FundingPayment


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """API credentials of one venue account; values stay ``SecretStr`` until the request
    that needs them (never logged, never put in an error or the journal).

    Attributes
    ----------
    api_key : SecretStr
        Binance/Bybit/OKX API key; Hyperliquid: the account (master wallet) address;
        Purple Flea: the bearer token (``pf_live_...``).
    api_secret : SecretStr | None
        HMAC secret; Hyperliquid: the API wallet's private key; Purple Flea: unused.
    api_passphrase : SecretStr | None
        OKX only.
    """

    api_key: SecretStr
    api_secret: SecretStr | None = None
    api_passphrase: SecretStr | None = None

    def __repr__(self) -> str:
        return "Credentials(**********)"


@runtime_checkable
class MarketDataSource(Protocol):
    """Public market data of one venue: what paper-on-live, ``zerobeta data download`` and
    the venue clients share. Needs no credentials.

    All times epoch ms UTC, prices quote currency per base unit, rates per funding interval.
    Methods raise subclasses of ``venues.errors.VenueError`` only.
    """

    @property
    def name(self) -> str:
        """Venue name, e.g. ``binance``."""
        ...

    async def open(self) -> None:
        """Open connections / sessions."""
        ...

    async def close(self) -> None:
        """Close connections; idempotent."""
        ...

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """Trading rules of every instrument the venue lists (or is configured for)."""
        ...

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """Current (predicted) funding rate and next settlement of each perp."""
        ...

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Settled funding rates with ``start_ms <= ts_funding_ms < end_ms``, oldest first,
        each with the interval that applied to it. Pages through the venue's limit."""
        ...

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Candles with ``start_ms <= ts_open_ms < end_ms``, oldest first. Pages through the
        venue's limit."""
        ...

    def stream_marks(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarkPrice]:
        """Mark prices as they change, reconnecting (and resyncing over REST) on its own;
        per instrument never a duplicate or an older update than one already yielded."""
        ...


MarketUpdate = MarkPrice | FundingRate
"""One update of a venue's market stream: a mark price, or the **predicted** funding rate of
the next settlement (``ts_funding_ms`` in the future) that the same stream carries."""


@runtime_checkable
class MarketStreamSource(Protocol):
    """A venue whose mark stream also carries the predicted funding rate (Binance
    ``markPriceUpdate`` ``r``/``T``, Bybit linear ``tickers`` ``fundingRate``/
    ``nextFundingTime``, Hyperliquid ``activeAssetCtx`` ``funding``, OKX ``funding-rate``).
    The live feed reads this instead of :meth:`MarketDataSource.stream_marks` when a venue
    has it, so predicted rates reach the engine between hourly steps."""

    def stream_market(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncIterator[MarkPrice | FundingRate]:
        """Marks of ``instrument_ids`` exactly as :meth:`MarketDataSource.stream_marks`
        yields them, interleaved with the predicted funding of the perps among them whenever
        its rate or settlement time changes (never an older settlement than one yielded, per
        instrument). A predicted rate is never a settlement: nothing may book it."""
        ...


@runtime_checkable
class OptionChainSource(Protocol):
    """A venue that lists options on a perpetual's underlying and reports their marks, implied
    volatilities and greeks (Deribit). Paper-on-live and live runs build the option chains the
    strategies read from it (:mod:`agent.engine.live_options`) instead of a model."""

    async def fetch_option_chain(
        self, underlying: InstrumentId, max_expiry_ms: int, strike_range_frac: float
    ) -> list[tuple[Instrument, OptionTicker]]:
        """Every listed option on ``underlying``'s coin expiring by ``max_expiry_ms`` (epoch
        ms UTC) with a strike within ``± strike_range_frac`` of the current index, each as
        its common :class:`~venues.model.Instrument` (id of kind ``OPTION``: lot step,
        contract size) and its ticker **as the venue reports it** (mark price in the option's
        quote currency, ``index_price`` USD, IVs as fractions, the venue's greeks).

        Raises
        ------
        VenueError
            As any read of the venue; ``ValueError`` if ``underlying`` is not one of its perps.
        """
        ...


@runtime_checkable
class DeliveryPriceSource(Protocol):
    """A venue that publishes the price its expired options were delivered (cash-settled)
    against (Deribit). A live run books a held option's expiry at that price
    (:mod:`agent.engine.live_options`)."""

    async def fetch_delivery_price(
        self, underlying: InstrumentId, expiry_ms: int
    ) -> Decimal | None:
        """The delivery price, USD per coin, of the options on ``underlying``'s coin that
        expired at ``expiry_ms`` (epoch ms UTC); ``None`` while the venue has not published it.

        Raises
        ------
        VenueError
            As any read of the venue; ``ValueError`` if ``underlying`` is not one of its perps.
        """
        ...


@runtime_checkable
class AccountSetup(Protocol):
    """A live venue that can check and set the account modes zerobeta trades with."""

    async def prepare_account(
        self, instrument_ids: Sequence[InstrumentId], leverage: Decimal
    ) -> list[str]:
        """Make the account trade ``instrument_ids`` in one-way position mode, cross margin
        and ``leverage`` ×, setting what differs. Returns one line per change made.

        Raises
        ------
        venues.errors.AccountSetupError
            When a mode cannot be set (open positions/orders, a unified account that refuses
            it ...), naming the instrument, the mode found and what the user must do.
        """
        ...


@runtime_checkable
class Venue(MarketDataSource, Protocol):
    """Async interface to one trading venue: its market data (:class:`MarketDataSource`) plus
    quotes, the account stream, orders and the account.

    All quantities are base units and all times epoch ms UTC (see ``venues.model``). Methods
    raise subclasses of ``venues.errors.VenueError`` only.
    """

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """Best bid/ask for each instrument."""
        ...

    def stream_account(self) -> AsyncIterator[AccountEvent]:
        """Order updates, fills and funding payments of the account."""
        ...

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send one order. Raises ``OrderRejected`` (never retried) or a transport error
        (outcome unknown: call :meth:`fetch_order` before anything else)."""
        ...

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """Cancel by client order id; an order already final is returned as is."""
        ...

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """Look an order up by client order id. Raises ``OrderNotFound``."""
        ...

    async def fetch_positions(self) -> list[Position]:
        """Open positions (perps; spot holdings other than the quote asset count too)."""
        ...

    async def fetch_balances(self) -> list[Balance]:
        """Balances per asset."""
        ...

    async def fetch_open_orders(self) -> list[OrderAck]:
        """Orders not yet final."""
        ...

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """Funding settled on the account since ``since_ms``, oldest first."""
        ...
