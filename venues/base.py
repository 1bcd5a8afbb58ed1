"""The ``Venue`` protocol every exchange adapter, the paper venue and test fakes satisfy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

from venues.model import (
    Balance,
    Bar,
    Fill,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    MarkPrice,
    OrderAck,
    OrderRequest,
    Position,
    Quote,
)

AccountEvent = OrderAck | Fill | FundingPayment


@runtime_checkable
class Venue(Protocol):
    """Async interface to one trading venue.

    All quantities are base units and all times epoch ms UTC (see ``venues.model``). Methods
    raise subclasses of ``venues.errors.VenueError`` only.
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

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """Best bid/ask for each instrument."""
        ...

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """Current (predicted) funding rate and next settlement of each perp."""
        ...

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Candles with ``start_ms <= ts_open_ms < end_ms``, oldest first."""
        ...

    def stream_marks(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarkPrice]:
        """Mark prices as they change."""
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
