"""One instrument naming across venues: a venue adapter that translates symbols at its edge.

The strategies name a perp and a spot pair by one symbol per venue (``BTCUSDT`` on Binance and
Bybit, for both the perp and the spot pair), so a cash-and-carry pair is "the same symbol, two
kinds". OKX names them apart (``BTC-USDT-SWAP`` and ``BTC-USDT``). :class:`RenamedVenue` wraps
such a venue client so the rest of the agent sees the common names and the client keeps the
venue's own: every ``InstrumentId`` going in is turned into the venue's, every value coming out
(instruments, quotes, funding, bars, marks, order acks and their fills, positions, funding
payments) into the common one.

Names: :func:`okx_native` / :func:`okx_common` (``BTCUSDT`` ↔ ``BTC-USDT-SWAP`` for perps and
``BTC-USDT`` for spot; any ``<BASE>USDT``, ``<BASE>USDC``, ``<BASE>USD`` quote).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from venues.base import AccountEvent, AccountSetup, MarketStreamSource, Venue
from venues.model import (
    Balance,
    Bar,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
    OrderAck,
    OrderRequest,
    Position,
    Quote,
)

Rename = Callable[[InstrumentId], InstrumentId]
_T = TypeVar("_T")
_QUOTES = ("USDT", "USDC", "USD")


def okx_native(iid: InstrumentId) -> InstrumentId:
    """``okx:perp:BTCUSDT`` → ``okx:perp:BTC-USDT-SWAP``; ``okx:spot:BTCUSDT`` →
    ``okx:spot:BTC-USDT``. A symbol already in OKX form is returned unchanged."""
    if "-" in iid.symbol:
        return iid
    for quote in _QUOTES:
        if iid.symbol.endswith(quote) and len(iid.symbol) > len(quote):
            pair = f"{iid.symbol[: -len(quote)]}-{quote}"
            symbol = f"{pair}-SWAP" if iid.kind is InstrumentKind.PERP else pair
            return InstrumentId(iid.venue, iid.kind, symbol)
    return iid


def okx_common(iid: InstrumentId) -> InstrumentId:
    """``BTC-USDT-SWAP`` / ``BTC-USDT`` → ``BTCUSDT`` (other instIds unchanged)."""
    parts = iid.symbol.split("-")
    if (len(parts) == 3 and parts[2] == "SWAP") or len(parts) == 2:
        return InstrumentId(iid.venue, iid.kind, parts[0] + parts[1])
    return iid


class RenamedVenue:
    """``inner`` with instrument ids translated: ``to_native`` on the way in, ``to_common`` on
    the way out (see the module docstring). Everything else is delegated unchanged; it is an
    :class:`~venues.base.AccountSetup` when ``inner`` is one.

    Parameters
    ----------
    inner : Venue
        The venue's own client.
    to_native, to_common : Callable[[InstrumentId], InstrumentId]
        Inverse renamings.
    """

    def __init__(self, inner: Venue, to_native: Rename, to_common: Rename) -> None:
        self.inner = inner
        self._native = to_native
        self._common = to_common

    def __repr__(self) -> str:
        return f"RenamedVenue({self.inner!r})"

    @property
    def name(self) -> str:
        """The inner venue's name."""
        return self.inner.name

    async def open(self) -> None:
        """Open the inner venue."""
        await self.inner.open()

    async def close(self) -> None:
        """Close the inner venue; idempotent."""
        await self.inner.close()

    def _out(self, value: _T) -> _T:
        """``value`` with its instrument id (and its fills') in common names."""
        item: Any = value
        if isinstance(item, Instrument):
            renamed: Any = dataclasses.replace(item, id=self._common(item.id))
            return renamed  # type: ignore[no-any-return]
        changes: dict[str, Any] = {"instrument_id": self._common(item.instrument_id)}
        if isinstance(item, OrderAck):
            changes["fills"] = tuple(self._out(f) for f in item.fills)
        if isinstance(item, msgspec.Struct):  # MarkPrice, FundingRate (venues.model)
            return msgspec.structs.replace(item, **changes)  # type: ignore[return-value]
        out: Any = dataclasses.replace(item, **changes)
        return out  # type: ignore[no-any-return]

    def _ids(self, ids: Sequence[InstrumentId]) -> list[InstrumentId]:
        return [self._native(i) for i in ids]

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """The inner listing, keyed and named by common ids."""
        listed = await self.inner.load_instruments()
        return {self._common(i): self._out(inst) for i, inst in listed.items()}

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """Inner quotes, renamed."""
        return [self._out(q) for q in await self.inner.fetch_quotes(self._ids(instrument_ids))]

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """Inner current funding, renamed."""
        rates = await self.inner.fetch_funding(self._ids(instrument_ids))
        return [self._out(r) for r in rates]

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Inner settled funding, renamed."""
        rates = await self.inner.fetch_funding_history(
            self._native(instrument_id), start_ms, end_ms
        )
        return [self._out(r) for r in rates]

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Inner candles, renamed."""
        native = self._native(instrument_id)
        return [
            self._out(b) for b in await self.inner.fetch_bars(native, start_ms, end_ms, interval_s)
        ]

    async def stream_marks(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncIterator[MarkPrice]:
        """Inner mark stream, renamed."""
        async for mark in self.inner.stream_marks(self._ids(instrument_ids)):
            yield self._out(mark)

    async def stream_market(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncIterator[MarkPrice | FundingRate]:
        """Inner marks and predicted funding (:class:`~venues.base.MarketStreamSource`; the
        inner marks alone when it has no such stream), renamed."""
        ids = self._ids(instrument_ids)
        inner = self.inner
        updates: AsyncIterator[MarkPrice | FundingRate] = (
            inner.stream_market(ids)
            if isinstance(inner, MarketStreamSource)
            else inner.stream_marks(ids)
        )
        async for update in updates:
            yield self._out(update)

    async def stream_account(self) -> AsyncIterator[AccountEvent]:
        """Inner account stream, renamed."""
        async for event in self.inner.stream_account():
            yield self._out(event)

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send with the native id; the ack comes back renamed."""
        native = dataclasses.replace(request, instrument_id=self._native(request.instrument_id))
        return self._out(await self.inner.place_order(native))

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """Cancel by client order id (native id), renamed."""
        return self._out(
            await self.inner.cancel_order(self._native(instrument_id), client_order_id)
        )

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """Look up by client order id (native id), renamed."""
        native = self._native(instrument_id)
        return self._out(await self.inner.fetch_order(native, client_order_id))

    async def fetch_positions(self) -> list[Position]:
        """Inner positions, renamed."""
        return [self._out(p) for p in await self.inner.fetch_positions()]

    async def fetch_balances(self) -> list[Balance]:
        """Inner balances (no instruments)."""
        return await self.inner.fetch_balances()

    async def fetch_open_orders(self) -> list[OrderAck]:
        """Inner open orders, renamed."""
        return [self._out(o) for o in await self.inner.fetch_open_orders()]

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """Inner funding payments, renamed."""
        return [self._out(p) for p in await self.inner.fetch_funding_payments(since_ms)]

    async def prepare_account(
        self, instrument_ids: Sequence[InstrumentId], leverage: Decimal
    ) -> list[str]:
        """The inner :meth:`~venues.base.AccountSetup.prepare_account` with native ids
        (``[]`` when the inner venue has no account modes)."""
        if not isinstance(self.inner, AccountSetup):
            return []
        return await self.inner.prepare_account(self._ids(instrument_ids), leverage)
