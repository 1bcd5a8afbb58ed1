"""Deribit as one :class:`~venues.base.Venue` named ``deribit``: linear and inverse
perpetuals and the inverse BTC/ETH options, in the common model's units.

:class:`DeribitVenue` is built on :class:`~venues.deribit.client.DeribitClient` (Deribit's own
units) and converts at this boundary only (:mod:`venues.deribit.units`):

* **instruments** (``public/get_instruments`` of ``BTC``, ``ETH``, ``USDC``, active only):
  ``deribit:perp:BTC_USDC-PERPETUAL`` (linear, coin amounts), ``deribit:perp:BTC-PERPETUAL``
  / ``ETH-PERPETUAL`` (inverse: amounts in USD contracts of 10 USD — an order's base quantity
  is sent as ``qty × price`` USD rounded to whole contracts, a fill of ``A`` USD at ``P`` is
  ``A / P`` coins; lot step = one contract's coins at the price read when the instruments are
  loaded, rounded up), and ``deribit:option:BTC-27DEC24-100000-C`` (coin amounts; prices in
  USD per coin here = the coin price × the index price). Dated futures, combos and linear
  USDC options are not listed;
* **funding**: Deribit's perpetual funding is continuous. The predicted rate is the ticker's
  ``funding_8h`` / 8 per hour (:func:`venues.deribit.parse.parse_predicted_funding`), the
  settled history the hourly ``interest_1h`` of ``public/get_funding_rate_history``, and the
  account's payments the daily ``settlement`` rows of the transaction log with a rate
  derived from the amount (:mod:`venues.deribit.parse_funding`);
* **orders** carry our client order id as Deribit's ``label`` (≤ 64 characters). Deribit does
  not enforce label uniqueness, so :meth:`DeribitVenue.place_order` looks the label up first
  and refuses one already used (``DuplicateClientOrderId``); by-label lookups and cancels
  then find exactly our order. Post-only = ``post_only: true`` + ``reject_post_only: true``;
* **account stream**: ``user.orders.any.any.raw`` and ``user.trades.any.any.raw`` on one
  authenticated websocket (:meth:`venues.deribit.streams.DeribitStreams.account`);
* **option expiry**: :meth:`DeribitVenue.fetch_delivery_price` reads the delivery price an
  expired option was cash-settled against (``public/get_delivery_prices``);
* **balances** one per currency (``get_account_summary``: ``balance``, ``available_funds``)
  in that currency's units (BTC, ETH, USDC).

Source: the Deribit API v2 docs https://docs.deribit.com/ (each method's page cited in
:mod:`venues.deribit.rest`). Testnet: ``https://test.deribit.com`` /
``wss://test.deribit.com/ws/api/v2`` (separate accounts and keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import httpx

from venues.base import AccountEvent, Credentials
from venues.deribit import constants as c
from venues.deribit import parse as p
from venues.deribit import parse_account as pa
from venues.deribit import units as u
from venues.deribit.client import DeribitClient
from venues.deribit.fields import Row, array_field, as_object, dec_field, opt_dec_field
from venues.deribit.parse_funding import funding_payment, log_page
from venues.deribit.rest import DeribitRest, make_rest_client
from venues.deribit.streams import DeribitStreams, StreamSettings
from venues.deribit.types import DeribitInstrument, DeribitOrderRequest, DeribitPosition
from venues.errors import DuplicateClientOrderId, InvalidOrder, OrderNotFound, VenueError
from venues.model import (
    HOUR_MS,
    Balance,
    Bar,
    Fill,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
    OptionTicker,
    OptionType,
    OrderAck,
    OrderRequest,
    OrderType,
    Position,
    Quote,
    TimeInForce,
    liquidation_price_or_none,
)
from venues.ratelimit import SleptClock

SleepFn = Callable[[float], Awaitable[None]]
CURRENCIES = ("BTC", "ETH", "USDC")
"""Currencies whose instruments are listed (``get_instruments`` takes one per call)."""
_HISTORY_WINDOW_MS = 30 * 24 * HOUR_MS
_TIME_IN_FORCE = {
    TimeInForce.GTC: "good_til_cancelled",
    TimeInForce.IOC: "immediate_or_cancel",
    TimeInForce.POST_ONLY: "good_til_cancelled",
}


class DeribitVenue:
    """Deribit perpetuals and inverse options as a :class:`~venues.base.Venue` (module
    docstring).

    Parameters
    ----------
    client : DeribitClient
        Deribit in venue units; closed by :meth:`close`. Also reachable as :attr:`client`
        (the live option chain reads its tickers).
    now_ms : Callable[[], int]
        Wall clock, epoch ms (history windows, event times of snapshots).
    """

    def __init__(self, client: DeribitClient, now_ms: Callable[[], int]) -> None:
        self.client = client
        self._now_ms = now_ms
        self._instruments: dict[InstrumentId, Instrument] | None = None
        self._by_name: dict[str, InstrumentId] = {}
        self._index_usd: dict[str, Decimal] = {}  # base coin → last index price seen, USD
        self._sized_at: dict[str, Decimal] = {}  # label → price an inverse order was sized at
        self._mark_usd: dict[str, Decimal] = {}  # perpetual → last mark read, USD

    def __repr__(self) -> str:
        return f"DeribitVenue(client={self.client!r})"

    @property
    def name(self) -> str:
        """``deribit``."""
        return c.VENUE

    async def open(self) -> None:
        """Load the instruments and, with credentials, obtain the access token
        (``public/auth``), so a refused key shows at start-up."""
        await self.load_instruments()
        if self.client.rest.has_credentials:
            await self.client.rest.authenticate()

    async def close(self) -> None:
        """Close the transport; idempotent."""
        await self.client.close()

    # --- instruments ------------------------------------------------------------------------

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """Perpetuals (linear and inverse) and inverse options of :data:`CURRENCIES` as common
        instruments (module docstring). Reads one ``public/ticker`` per inverse perpetual to
        size its lot step."""
        instruments: dict[InstrumentId, Instrument] = {}
        for currency in CURRENCIES:
            for contract in await self.client.load_contracts(currency):
                price = None
                if contract.is_inverse and contract.is_perpetual:
                    price = self._remember(await self.client.fetch_ticker(contract.name), contract)
                instrument = u.common_instrument(contract, price)
                if instrument is not None:
                    instruments[instrument.id] = instrument
        self._instruments = instruments
        self._by_name = {i.symbol: i for i in instruments}
        return dict(instruments)

    async def _instrument_map(self) -> dict[InstrumentId, Instrument]:
        if self._instruments is None:
            await self.load_instruments()
        return self._instruments or {}

    def _resolve(self, instrument_name: str) -> InstrumentId | None:
        return self._by_name.get(instrument_name)

    def _contract(self, instrument_id: InstrumentId) -> DeribitInstrument:
        """The loaded contract of an id the instrument map holds (every caller resolved it
        there first, so a miss is a programming error)."""
        contract = self.client.contract(instrument_id.symbol)
        if contract is None:
            raise VenueError(f"deribit: {instrument_id} is not a loaded instrument", venue=c.VENUE)
        return contract

    async def _currencies(self) -> list[str]:
        instruments = await self._instrument_map()
        return sorted({self.client.currency_of(i.symbol) for i in instruments})

    def _remember(self, ticker: Row, contract: DeribitInstrument) -> Decimal:
        """Note the ticker's index price (per base coin); return its mark price, USD for a
        perpetual, coin for an option."""
        index = opt_dec_field(ticker, "index_price", "ticker")
        if index is not None and index > 0:
            self._index_usd[contract.base] = index
        mark = dec_field(ticker, "mark_price", "ticker")
        if contract.is_perpetual:
            self._mark_usd[contract.name] = mark
        return mark

    # --- market data --------------------------------------------------------------------------

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """Best bid/ask of each instrument (``public/ticker``), options in USD (× the
        ticker's index price). ``ProtocolError`` if a side of the book is empty. Fixtures
        ``ticker_btc_perpetual.json``, ``ticker_btc_option.json``."""
        await self._instrument_map()
        quotes = []
        for iid in instrument_ids:
            ticker = await self.client.fetch_ticker(iid.symbol)
            quote = p.parse_quote(ticker, iid)
            contract = self.client.contract(iid.symbol)
            if contract is not None:
                self._remember(ticker, contract)
            if iid.kind is InstrumentKind.OPTION:
                index = float(dec_field(ticker, "index_price", "ticker"))
                quote = Quote(iid, quote.bid * index, quote.ask * index, quote.ts_event_ms)
            quotes.append(quote)
        return quotes

    async def fetch_marks(self, instrument_ids: Sequence[InstrumentId]) -> list[MarkPrice]:
        """Mark and index price of each instrument (``public/ticker``), USD per coin."""
        return [
            _usd_mark(p.parse_mark(await self.client.fetch_ticker(iid.symbol), iid))
            for iid in instrument_ids
        ]

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """Predicted hourly funding of each perpetual among ``instrument_ids`` (options are
        skipped) from its ticker: ``funding_8h`` / 8 (module docstring)."""
        return [
            p.parse_predicted_funding(await self.client.rest.ticker(i.symbol), i)
            for i in instrument_ids
            if i.kind is InstrumentKind.PERP
        ]

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Hourly settled rates (``interest_1h``) with ``start_ms <= ts_funding_ms < end_ms``,
        oldest first, read backwards in 30-day windows of ``public/get_funding_rate_history``
        (https://docs.deribit.com/#public-get_funding_rate_history) until a window is empty or
        ``start_ms`` is reached; ``[]`` for an option. Fixture
        ``get_funding_rate_history.json``."""
        if instrument_id.kind is not InstrumentKind.PERP:
            return []
        rest = self.client.rest
        found: dict[int, FundingRate] = {}
        upper = min(end_ms, self._now_ms() + HOUR_MS)
        while upper > start_ms:
            lower = max(start_ms, upper - _HISTORY_WINDOW_MS)
            payload = await rest.get_funding_rate_history(instrument_id.symbol, lower, upper)
            rows = [
                r
                for r in p.parse_funding_history(payload, instrument_id)
                if lower <= r.ts_funding_ms < upper
            ]
            if not rows:
                break
            found.update({r.ts_funding_ms: r for r in rows if start_ms <= r.ts_funding_ms < end_ms})
            upper = lower
        return [found[k] for k in sorted(found)]

    async def fetch_bars(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
    ) -> list[Bar]:
        """Closed candles with ``start_ms <= ts_open_ms < end_ms``, oldest first, from
        ``public/get_tradingview_chart_data`` in pages of 5,000 bars
        (https://docs.deribit.com/#public-get_tradingview_chart_data). Volume as the venue
        reports it (for an inverse perpetual that is USD, not coins).

        Raises
        ------
        ValueError
            For a bar length Deribit has no resolution for.
        """
        resolution = c.CHART_RESOLUTION_BY_INTERVAL_S.get(interval_s)
        if resolution is None:
            raise ValueError(
                f"deribit has no {interval_s} s bars; "
                f"known: {sorted(c.CHART_RESOLUTION_BY_INTERVAL_S)}"
            )
        step_ms = interval_s * 1000
        now_ms = self._now_ms()
        bars: dict[int, Bar] = {}
        page_start = start_ms
        while page_start < end_ms:
            page_end = min(end_ms, page_start + c.CHART_MAX_BARS * step_ms)
            payload = await self.client.rest.get_chart_data(
                instrument_id.symbol, page_start, page_end - 1, resolution
            )
            for bar in p.parse_chart_bars(payload, instrument_id, interval_s):
                if page_start <= bar.ts_open_ms < page_end and bar.ts_close_ms <= now_ms:
                    bars[bar.ts_open_ms] = bar
            page_start = page_end
        return [bars[k] for k in sorted(bars)]

    async def _perp_contract(self, underlying: InstrumentId) -> DeribitInstrument:
        """The loaded contract of a Deribit perpetual (instruments loaded when not yet).

        Raises ``ValueError`` if ``underlying`` is not a listed Deribit perpetual."""
        if underlying.venue != c.VENUE or underlying.kind is not InstrumentKind.PERP:
            raise ValueError(f"deribit: {underlying} is not a Deribit perpetual")
        perp = self.client.contract(underlying.symbol)
        if perp is None:
            await self.load_instruments()
            perp = self.client.contract(underlying.symbol)
        if perp is None:
            raise ValueError(f"deribit: {underlying} is not a listed perpetual")
        return perp

    async def fetch_option_chain(
        self, underlying: InstrumentId, max_expiry_ms: int, strike_range_frac: float
    ) -> list[tuple[Instrument, OptionTicker]]:
        """:class:`~venues.base.OptionChainSource`: the inverse options on ``underlying``'s
        base coin (``public/get_instruments {currency, kind: option}``, active only) not yet
        expired and expiring by ``max_expiry_ms``, with a strike within ``± strike_range_frac``
        of the index (``public/get_index_price`` of the options' ``price_index``), each with its
        ``public/ticker`` (https://docs.deribit.com/#public-ticker) — one request per option,
        within the credit pool — in expiry, strike, call-before-put order. Tickers in venue
        units (mark in coin, ``index_price`` USD, IVs fractions, Deribit's greeks).

        Raises
        ------
        ValueError
            If ``underlying`` is not a Deribit perpetual.
        VenueError
            As any read.
        """
        perp = await self._perp_contract(underlying)
        now_ms = self._now_ms()
        contracts = [
            k
            for k in await self.client.load_contracts(perp.base, c.KIND_OPTION)
            if now_ms < k.ts_expiry_ms <= max_expiry_ms and k.is_inverse and k.strike is not None
        ]
        if not contracts:
            return []
        index = Decimal(repr(await self.client.fetch_index_price(contracts[0].price_index)))
        self._index_usd[perp.base] = index
        low, high = (
            index * Decimal(repr(1 - strike_range_frac)),
            index * Decimal(repr(1 + strike_range_frac)),
        )
        chosen = sorted(
            (k for k in contracts if k.strike is not None and low <= k.strike <= high),
            key=lambda k: (k.ts_expiry_ms, k.strike, k.option_type != OptionType.CALL),
        )
        found = []
        for contract in chosen:
            instrument = u.common_instrument(contract, None)
            if instrument is None:
                continue
            self._by_name.setdefault(contract.name, instrument.id)
            if self._instruments is not None:
                self._instruments.setdefault(instrument.id, instrument)
            found.append((instrument, await self.client.fetch_option_ticker(contract.name)))
        return found

    async def fetch_delivery_price(
        self, underlying: InstrumentId, expiry_ms: int
    ) -> Decimal | None:
        """:class:`~venues.base.DeliveryPriceSource`: the price, USD per coin, that Deribit
        cash-settled the inverse options on ``underlying``'s coin expiring at ``expiry_ms``
        (epoch ms UTC, 08:00 UTC of the delivery day) against: the 30-minute average of the
        index before expiry, published per UTC day by ``public/get_delivery_prices`` of the
        options' index (``btc_usd``, ``eth_usd``;
        https://docs.deribit.com/#public-get_delivery_prices), read newest first in pages of
        :data:`~venues.deribit.constants.DELIVERY_PRICES_PAGE` days down to the expiry's day.
        ``None`` while that day's price is not published (no row dated that day). Fixture
        ``get_delivery_prices.json``.

        Raises
        ------
        ValueError
            If ``underlying`` is not a Deribit perpetual.
        VenueError
            As any read.
        """
        perp = await self._perp_contract(underlying)
        index_name = c.OPTION_INDEX_FORMAT.format(base=perp.base.lower())
        day = datetime.fromtimestamp(expiry_ms // 1000, tz=UTC).date().isoformat()
        offset = 0
        while True:
            payload = await self.client.rest.get_delivery_prices(
                index_name, offset, c.DELIVERY_PRICES_PAGE
            )
            rows, total = p.parse_delivery_prices(payload)
            for date, price in rows:
                if date == day:
                    return price
            offset += len(rows)
            if not rows or rows[-1][0] < day or offset >= total:
                return None  # not published yet (or older than the venue keeps)

    async def stream_marks(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncIterator[MarkPrice]:
        """Mark prices (``ticker.{instrument}.100ms``; see
        :meth:`venues.deribit.streams.DeribitStreams.marks`), options in USD (× the push's
        index price)."""
        marks = self.client.streams.marks(instrument_ids)
        try:
            async for mark in marks:
                if mark.instrument_id.kind is InstrumentKind.PERP:
                    self._mark_usd[mark.instrument_id.symbol] = Decimal(repr(mark.mark_price))
                yield _usd_mark(mark)
        finally:
            await marks.aclose()

    async def stream_account(self) -> AsyncIterator[AccountEvent]:
        """Order updates and fills of every instrument the common model trades
        (:meth:`venues.deribit.streams.DeribitStreams.account`), in common units."""
        await self._instrument_map()
        currencies = await self._currencies()
        events = self.client.streams.account(self._ack_of_row, self._fill_of_row, currencies)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    # --- unit conversion of order and trade objects -------------------------------------------

    def _fill(self, row: Row, iid: InstrumentId, label: str, where: str) -> Fill:
        fill = pa.parse_trade(row, iid, label, where)
        contract = self._contract(iid)
        index = dec_field(row, "index_price", where)
        self._index_usd[contract.base] = index
        return u.fill_to_common(fill, contract, index)

    def _ack(self, row: Row, iid: InstrumentId, fills: tuple[Fill, ...], where: str) -> OrderAck:
        ack = pa.with_fills(pa.parse_order(row, iid, where), fills)
        contract = self._contract(iid)
        # ``price`` is the limit (a number; "market_price" for a triggered market order)
        raw = row.get("price")
        limit = Decimal(repr(raw)) if isinstance(raw, int | float) and raw > 0 else None
        sized = self._sized_at.get(ack.client_order_id) or limit
        if ack.status.is_final:  # nothing more to size: forget it
            self._sized_at.pop(ack.client_order_id, None)
        return u.ack_to_common(ack, contract, sized, self._index_usd.get(contract.base))

    def _ack_of_row(self, row: Row, where: str) -> OrderAck | None:
        iid = self._resolve(str(row.get("instrument_name")))
        return None if iid is None else self._ack(row, iid, (), where)

    def _fill_of_row(self, row: Row, where: str) -> Fill | None:
        iid = self._resolve(str(row.get("instrument_name")))
        if iid is None:
            return None
        label = row.get("label")
        return self._fill(row, iid, label if isinstance(label, str) else "", where)

    # --- orders -----------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send one order, label = client order id (``private/buy``/``private/sell``,
        https://docs.deribit.com/#private-buy), exactly once. An inverse perpetual's base
        quantity goes as USD at the limit price, else the request's reference price, else the
        last mark read (a ``public/ticker`` only when none was); an option's USD limit as a
        coin price at the current index (one ``public/ticker`` first), rounded to its tick
        away from the market (:mod:`venues.deribit.units`).

        Raises
        ------
        InvalidOrder
            Unknown instrument, a label over 64 characters, an amount below the minimum or off
            the lot step, an inverse amount under one contract (never sent); the venue's rule
            violations.
        DuplicateClientOrderId
            An order with this label exists already (looked up first).
        OrderRejected
            Other refusals (``10009`` → ``InsufficientMargin``), carrying the label.
        TransportError, VenueUnavailable
            Outcome unknown: call :meth:`fetch_order`.
        """
        instrument = (await self._instrument_map()).get(request.instrument_id)
        label = request.client_order_id
        if instrument is None:
            raise _invalid(label, f"unknown instrument {request.instrument_id}")
        _check_amount(label, request.qty, instrument)
        contract = self._contract(instrument.id)
        amount, price, sized_at = await self._venue_terms(request, contract)
        # Sent once: a failed check surfaces as the order's own transport error (outcome
        # "unknown", resolved by the caller's lookup) instead of delaying the order.
        if await self.client.label_orders(contract.name, label, retry=False):
            message = f"deribit: label {label!r} is already used"
            raise DuplicateClientOrderId(
                message, venue=c.VENUE, client_order_id=label, reason="label already used"
            )
        order = DeribitOrderRequest(
            label=label,
            instrument_name=contract.name,
            side=request.side,
            amount=amount,
            order_type=request.order_type,
            price=price,
            time_in_force=_TIME_IN_FORCE[request.time_in_force],
            post_only=request.time_in_force is TimeInForce.POST_ONLY,
            reduce_only=request.reduce_only,
        )
        if sized_at is not None:
            self._sized_at[label] = sized_at
        result = as_object(await self.client.send(order), "buy")
        return self._order_response(result, instrument.id, label)

    async def _venue_terms(
        self, request: OrderRequest, contract: DeribitInstrument
    ) -> tuple[Decimal, Decimal | None, Decimal | None]:
        """``(amount, price, sized_at)`` of ``request`` in venue units; ``sized_at`` the USD
        price an inverse amount was computed at."""
        label = request.client_order_id
        limit = request.limit_price if request.order_type is OrderType.LIMIT else None
        if contract.kind == c.KIND_OPTION:
            if limit is None:
                return request.qty, None, None
            self._remember(await self.client.fetch_ticker(contract.name), contract)
            index = self._index_usd[contract.base]
            return request.qty, u.option_price_coin(limit, index, contract, request.side), None
        if not contract.is_inverse:
            return request.qty, limit, None
        sized_at = limit or request.reference_price or self._mark_usd.get(contract.name)
        if sized_at is None:
            sized_at = self._remember(await self.client.fetch_ticker(contract.name), contract)
        amount = u.inverse_amount_usd(request.qty, sized_at, contract.contract_size)
        if amount == 0:
            raise _invalid(
                label,
                f"{request.qty} {contract.base} at {sized_at} is under one "
                f"{contract.contract_size} USD contract",
            )
        return amount, limit, sized_at

    def _order_response(self, result: Row, iid: InstrumentId, label: str) -> OrderAck:
        trades = array_field(result, "trades", "buy")
        fills = tuple(
            sorted(
                (
                    self._fill(as_object(t, f"buy.trades[{i}]"), iid, label, f"buy.trades[{i}]")
                    for i, t in enumerate(trades)
                ),
                key=lambda f: (f.ts_event_ms, f.trade_id),
            )
        )
        return self._ack(as_object(result.get("order"), "buy.order"), iid, fills, "buy.order")

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """The most recent order labelled ``client_order_id`` on the instrument, with its
        fills (``private/get_order_state_by_label``, then ``private/get_user_trades_by_order``
        when it has any), common units. Raises ``OrderNotFound``."""
        row = await self.client.order_by_label(instrument_id.symbol, client_order_id)
        where = "get_order_state_by_label"
        fills: tuple[Fill, ...] = ()
        if dec_field(row, "filled_amount", where) > 0:
            order_id = str(row.get("order_id"))
            trades = await self.client.rest.get_user_trades_by_order(order_id)
            rows = pa.order_rows(trades, "get_user_trades_by_order")
            fills = tuple(
                sorted(
                    (
                        self._fill(r, instrument_id, client_order_id, f"trades[{i}]")
                        for i, r in enumerate(rows)
                    ),
                    key=lambda f: (f.ts_event_ms, f.trade_id),
                )
            )
        return self._ack(row, instrument_id, fills, where)

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``private/cancel_by_label {label, currency}`` (https://docs.deribit.com/#private-
        cancel_by_label; a finished order is simply not counted), then the order as it now
        stands (:meth:`fetch_order`; ``OrderNotFound`` for an unknown label)."""
        currency = self.client.currency_of(instrument_id.symbol)
        with contextlib.suppress(OrderNotFound):
            await self.client.rest.cancel_by_label(client_order_id, currency)
        return await self.fetch_order(instrument_id, client_order_id)

    async def fetch_open_orders(self) -> list[OrderAck]:
        """Open orders on the instruments the common model trades
        (``private/get_open_orders_by_currency`` of each currency), without fills."""
        acks = []
        for currency in await self._currencies():
            result = await self.client.rest.get_open_orders_by_currency(currency)
            for i, row in enumerate(pa.order_rows(result, "open")):
                ack = self._ack_of_row(row, f"get_open_orders_by_currency[{i}]")
                if ack is not None:
                    acks.append(ack)
        return acks

    # --- account ------------------------------------------------------------------------------

    async def fetch_positions(self) -> list[Position]:
        """Non-zero positions on the instruments the common model trades, signed coins:
        linear ``size``, inverse ``size_currency`` (the venue's coin equivalent at the mark),
        options ``size``; option prices in USD (``average_price_usd``, mark × index)."""
        now_ms = self._now_ms()
        positions: list[Position] = []
        for currency in await self._currencies():
            for row in await self.client.fetch_deribit_positions(currency):
                iid = self._resolve(row.instrument_name)
                if row.size and iid is not None:
                    positions.append(_common_position(row, iid, self._contract(iid), now_ms))
        return positions

    async def fetch_balances(self) -> list[Balance]:
        """One balance per currency (``get_account_summary``), in that currency's units."""
        now_ms = self._now_ms()
        return [
            pa.balance_of(await self.client.fetch_account_summary(currency), now_ms)
            for currency in await self._currencies()
        ]

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """Perpetual funding settled since ``since_ms``, oldest first: the ``settlement`` rows
        of ``private/get_transaction_log`` of each currency, paged by ``continuation``
        (:mod:`venues.deribit.parse_funding` for the mapping)."""
        await self._instrument_map()
        end_ms = self._now_ms()
        payments: list[FundingPayment] = []
        for currency in await self._currencies():
            continuation: int | None = None
            while True:
                result = await self.client.rest.get_transaction_log(
                    currency, since_ms, end_ms, query="settlement", continuation=continuation
                )
                logs, continuation = log_page(result)
                for i, row in enumerate(logs):
                    payment = funding_payment(
                        row, self._perp_of, self._is_inverse, f"get_transaction_log[{i}]"
                    )
                    if payment is not None and payment.ts_funding_ms >= since_ms:
                        payments.append(payment)
                if continuation is None or not logs:
                    break
        unique = {(str(x.instrument_id), x.ts_funding_ms): x for x in payments}
        return sorted(unique.values(), key=lambda x: (x.ts_funding_ms, str(x.instrument_id)))

    def _perp_of(self, instrument_name: str) -> InstrumentId | None:
        iid = self._resolve(instrument_name)
        return iid if iid is not None and iid.kind is InstrumentKind.PERP else None

    def _is_inverse(self, instrument_name: str) -> bool:
        contract = self.client.contract(instrument_name)
        return contract is not None and contract.is_inverse


def _usd_mark(mark: MarkPrice) -> MarkPrice:
    """An option's coin mark × its index price (USD); other marks unchanged."""
    if mark.instrument_id.kind is not InstrumentKind.OPTION or mark.index_price is None:
        return mark
    return MarkPrice(
        mark.instrument_id, mark.mark_price * mark.index_price, mark.ts_event_ms, mark.index_price
    )


def _common_position(
    row: DeribitPosition, iid: InstrumentId, contract: DeribitInstrument, ts_event_ms: int
) -> Position:
    qty = row.size
    entry, mark = row.average_price, row.mark_price
    if contract.kind == c.KIND_OPTION:
        entry = row.average_price_usd or row.average_price * row.index_price
        mark = row.mark_price * row.index_price
    elif contract.is_inverse:
        qty = row.size_currency if row.size_currency is not None else row.size / row.mark_price
    return Position(
        instrument_id=iid,
        qty=qty,
        entry_price=entry,
        mark_price=mark,
        ts_event_ms=ts_event_ms,
        liquidation_price=liquidation_price_or_none(row.estimated_liquidation_price),
    )


def _invalid(label: str, reason: str) -> InvalidOrder:
    return InvalidOrder(f"deribit: {reason}", venue=c.VENUE, client_order_id=label, reason=reason)


def _check_amount(label: str, qty: Decimal, instrument: Instrument) -> None:
    if len(label) > c.LABEL_MAX_LEN:
        raise _invalid(label, f"label longer than {c.LABEL_MAX_LEN} characters")
    if qty < instrument.min_qty:
        raise _invalid(label, f"amount {qty} below the minimum {instrument.min_qty}")
    if qty % instrument.lot_step:
        raise _invalid(label, f"amount {qty} is not a multiple of {instrument.lot_step}")


def create_venue(
    credentials: Credentials | None = None,
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: SleepFn | None = None,
    grant: str = c.GRANT_CLIENT_SIGNATURE,
    stream_settings: StreamSettings | None = None,
) -> DeribitVenue:
    """Build the ``deribit`` venue (the agent's venue registry calls this).

    Parameters
    ----------
    credentials : Credentials | None
        ``api_key`` = Deribit client id, ``api_secret`` = client secret; ``None`` = market data
        only (private methods raise ``AuthError`` naming what is missing).
    rest_url, ws_url : str | None
        HTTP base and websocket URL; ``None`` = production (``https://www.deribit.com``,
        ``wss://www.deribit.com/ws/api/v2``); testnet ``https://test.deribit.com``,
        ``wss://test.deribit.com/ws/api/v2``.
    transport : httpx.AsyncBaseTransport | None
        Replaces the network (respx / ``MockTransport`` in tests).
    sleep : Callable[[float], Awaitable[None]] | None
        Async sleep (s) for retries, credit buckets and reconnect backoff; when injected, the
        buckets and token renewal run on a virtual clock advanced by it.
    grant : str
        ``client_signature`` (default: the secret never travels) or ``client_credentials``
        (the secret travels in the ``public/auth`` body over TLS; never logged).
    stream_settings : StreamSettings | None
        Heartbeat, watchdog and backoff of the streams.

    Returns
    -------
    DeribitVenue
        Not yet opened: call ``await venue.open()`` (instruments, token) first.

    Raises
    ------
    ValueError
        For an unknown ``grant``.
    """
    clock: Callable[[], float]
    wait: SleepFn
    if sleep is None:
        clock, wait = time.monotonic, asyncio.sleep
    else:
        virtual = SleptClock(sleep)
        clock, wait = virtual, virtual.sleep

    def now_ms() -> int:
        return time.time_ns() // 1_000_000

    http = make_rest_client(
        rest_url or c.REST_BASE_URL, transport=transport, clock=clock, sleep=wait
    )
    rest = DeribitRest(
        http,
        credentials.api_key if credentials else None,
        credentials.api_secret if credentials else None,
        grant=grant,
        now_ms=now_ms,
        clock=clock,
        sleep=wait,
    )
    streams = DeribitStreams(
        rest, url=ws_url or c.WS_URL, settings=stream_settings or StreamSettings(), sleep=wait
    )
    return DeribitVenue(DeribitClient(rest, streams), now_ms)
