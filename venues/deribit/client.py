"""Deribit API v2 as a :class:`~venues.base.Venue`, plus its options surface.

Built on :class:`~venues.deribit.rest.DeribitRest` (JSON-RPC over HTTP, auth, credits),
:mod:`venues.deribit.parse` / :mod:`venues.deribit.parse_account` (payload → value types) and
:class:`~venues.deribit.streams.DeribitStreams` (JSON-RPC over websocket). Source: the Deribit
API v2 docs https://docs.deribit.com/ (each method's page cited where it is used); fixtures
``tests/fixtures/deribit-v2/``.

What the common model trades: **linear perpetuals** (``deribit:perp:BTC_USDC-PERPETUAL``),
whose amounts are base units. Inverse contracts (``BTC-PERPETUAL``: amounts in USD) and options
(amounts in coin, prices in coin) are served by the Deribit-specific methods —
:meth:`DeribitVenue.load_contracts`, :meth:`~DeribitVenue.fetch_option_ticker`,
:meth:`~DeribitVenue.submit`, :meth:`~DeribitVenue.fetch_order_by_label`,
:meth:`~DeribitVenue.fetch_deribit_positions`, :meth:`~DeribitVenue.fetch_account_summary`
and the option streams — in the venue's own units (:mod:`venues.deribit.types`).

Client order ids are Deribit **labels** (≤ 64 characters). Deribit does not enforce their
uniqueness, so :meth:`DeribitVenue.place_order` looks the label up first
(``private/get_order_state_by_label``) and refuses a label already used
(``DuplicateClientOrderId``); by-label lookups then find exactly our order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal

import httpx
import structlog

from venues.base import AccountEvent, Credentials
from venues.deribit import constants as c
from venues.deribit import parse as p
from venues.deribit import parse_account as pa
from venues.deribit.rest import DeribitRest, make_rest_client
from venues.deribit.streams import DeribitStreams, StreamSettings
from venues.deribit.types import (
    DeribitAccountSummary,
    DeribitInstrument,
    DeribitOrderRequest,
    DeribitPosition,
)
from venues.errors import (
    DuplicateClientOrderId,
    InvalidOrder,
    OrderNotFound,
    UnsupportedByVenue,
)
from venues.model import (
    HOUR_MS,
    Balance,
    Bar,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    MarkPrice,
    OptionMark,
    OptionTicker,
    OrderAck,
    OrderRequest,
    OrderType,
    Position,
    Quote,
    Side,
    TimeInForce,
)
from venues.ratelimit import SleptClock

log = structlog.get_logger("zerobeta.venues.deribit")

SleepFn = Callable[[float], Awaitable[None]]
_HISTORY_WINDOW_MS = 30 * 24 * HOUR_MS
# Post-only is ``good_til_cancelled`` with ``post_only`` and ``reject_post_only`` (refused
# with 11054 instead of repriced inside the spread; https://docs.deribit.com/#private-buy).
_TIME_IN_FORCE = {
    TimeInForce.GTC: "good_til_cancelled",
    TimeInForce.IOC: "immediate_or_cancel",
    TimeInForce.POST_ONLY: "good_til_cancelled",
}


class DeribitVenue:
    """Deribit linear perpetuals as a :class:`~venues.base.Venue`, and Deribit's options and
    inverse contracts in venue units (see the module docstring).

    Parameters
    ----------
    rest : DeribitRest
        JSON-RPC over HTTP (owns the transport; closed by :meth:`close`).
    streams : DeribitStreams
        JSON-RPC over websocket.
    now_ms : Callable[[], int]
        Wall clock, epoch ms (history windows, event times of snapshots).
    """

    def __init__(
        self, rest: DeribitRest, streams: DeribitStreams, now_ms: Callable[[], int]
    ) -> None:
        self._rest = rest
        self._streams = streams
        self._now_ms = now_ms
        self._contracts: dict[str, DeribitInstrument] = {}
        self._instruments: dict[InstrumentId, Instrument] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"DeribitVenue(rest={self._rest!r})"

    @property
    def name(self) -> str:
        """``deribit``."""
        return c.VENUE

    async def open(self) -> None:
        """Load the perpetuals (:meth:`load_instruments`) and, with credentials, obtain the
        access token (``public/auth``), so a refused key shows at start-up."""
        await self.load_instruments()
        if self._rest.has_credentials:
            await self._rest.authenticate()

    async def close(self) -> None:
        """Close the transport; idempotent."""
        if not self._closed:
            self._closed = True
            await self._rest.aclose()

    # --- instruments ------------------------------------------------------------------------

    async def load_contracts(
        self, currency: str, kind: str | None = None
    ) -> list[DeribitInstrument]:
        """Every active instrument of ``currency`` (``BTC``, ``ETH``, ``USDC``; ``kind``
        ``option``/``future``/None = all) with strikes, expiries, option type, contract size,
        tick size (and steps) and minimum amount (``public/get_instruments``,
        https://docs.deribit.com/#public-get_instruments). Cached for the order boundary."""
        found = p.parse_instruments(await self._rest.get_instruments(currency, kind))
        self._contracts.update({i.name: i for i in found})
        return found

    async def load_instruments(self) -> Mapping[InstrumentId, Instrument]:
        """The linear perpetuals of every currency in
        :data:`~venues.deribit.constants.PERP_CURRENCIES` as common instruments (lot step and
        minimum = ``min_trade_amount``, funding hourly)."""
        instruments: dict[InstrumentId, Instrument] = {}
        for currency in c.PERP_CURRENCIES:
            instruments.update(
                p.common_instruments(await self.load_contracts(currency, c.KIND_FUTURE))
            )
        self._instruments = instruments
        return dict(instruments)

    async def _instrument_map(self) -> dict[InstrumentId, Instrument]:
        if self._instruments is None:
            await self.load_instruments()
        return self._instruments or {}

    def _currency(self, instrument_name: str) -> str:
        contract = self._contracts.get(instrument_name)
        return (
            contract.settlement_currency if contract is not None else instrument_name.split("-")[0]
        )

    async def _currencies(self) -> list[str]:
        instruments = await self._instrument_map()
        return sorted({self._currency(i.symbol) for i in instruments})

    def _resolve(self, instrument_name: str) -> InstrumentId | None:
        iid = p.perp_id(instrument_name)
        return iid if self._instruments is not None and iid in self._instruments else None

    # --- market data --------------------------------------------------------------------------

    async def fetch_quotes(self, instrument_ids: Sequence[InstrumentId]) -> list[Quote]:
        """Best bid/ask of each instrument (``public/ticker``). ``ProtocolError`` if a side of
        the book is empty. Fixture ``ticker_btc_perpetual.json``."""
        return [p.parse_quote(await self._rest.ticker(i.symbol), i) for i in instrument_ids]

    async def fetch_marks(self, instrument_ids: Sequence[InstrumentId]) -> list[MarkPrice]:
        """Mark and index price of each instrument (``public/ticker``)."""
        return [p.parse_mark(await self._rest.ticker(i.symbol), i) for i in instrument_ids]

    async def fetch_funding(self, instrument_ids: Sequence[InstrumentId]) -> list[FundingRate]:
        """Predicted hourly funding of each perpetual from its ticker (``funding_8h`` / 8; see
        :func:`venues.deribit.parse.parse_predicted_funding`)."""
        return [
            p.parse_predicted_funding(await self._rest.ticker(i.symbol), i) for i in instrument_ids
        ]

    async def fetch_funding_history(
        self, instrument_id: InstrumentId, start_ms: int, end_ms: int
    ) -> list[FundingRate]:
        """Hourly settled rates (``interest_1h``) with ``start_ms <= ts_funding_ms < end_ms``,
        oldest first, read backwards in 30-day windows of ``public/get_funding_rate_history``
        (https://docs.deribit.com/#public-get_funding_rate_history) until a window is empty or
        ``start_ms`` is reached. Fixture ``get_funding_rate_history.json``."""
        found: dict[int, FundingRate] = {}
        upper = min(end_ms, self._now_ms() + HOUR_MS)
        while upper > start_ms:
            lower = max(start_ms, upper - _HISTORY_WINDOW_MS)
            payload = await self._rest.get_funding_rate_history(instrument_id.symbol, lower, upper)
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
        (https://docs.deribit.com/#public-get_tradingview_chart_data).

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
            payload = await self._rest.get_chart_data(
                instrument_id.symbol, page_start, page_end - 1, resolution
            )
            for bar in p.parse_chart_bars(payload, instrument_id, interval_s):
                if page_start <= bar.ts_open_ms < page_end and bar.ts_close_ms <= now_ms:
                    bars[bar.ts_open_ms] = bar
            page_start = page_end
        return [bars[k] for k in sorted(bars)]

    async def fetch_option_ticker(self, instrument_name: str) -> OptionTicker:
        """Mark price, mark/bid/ask IV (fractions) and the venue's greeks of one option
        (``public/ticker``, https://docs.deribit.com/#public-ticker). Fixture
        ``ticker_btc_option.json``."""
        return p.parse_option_ticker(await self._rest.ticker(instrument_name))

    async def fetch_index_price(self, index_name: str) -> float:
        """Index price, USD, of ``index_name`` (``btc_usd``; ``public/get_index_price``,
        https://docs.deribit.com/#public-get_index_price). Fixture ``get_index_price.json``."""
        index_price, _ = p.parse_index_price(await self._rest.get_index_price(index_name))
        return index_price

    def stream_marks(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarkPrice]:
        """Mark prices (``ticker.{instrument}.100ms``); see
        :meth:`venues.deribit.streams.DeribitStreams.marks`."""
        return self._streams.marks(instrument_ids)

    def stream_option_tickers(self, instrument_names: Sequence[str]) -> AsyncIterator[OptionTicker]:
        """Option tickers with greeks (``ticker.{instrument}.100ms``)."""
        return self._streams.option_tickers(instrument_names)

    def stream_option_marks(self, index_name: str) -> AsyncIterator[list[OptionMark]]:
        """Marks and IVs of every option on ``index_name`` (``markprice.options.{index}``)."""
        return self._streams.option_marks(index_name)

    def stream_portfolio(self, currency: str) -> AsyncIterator[DeribitAccountSummary]:
        """Account summary pushes (``user.portfolio.{currency}``)."""
        return self._streams.portfolio(currency)

    async def stream_account(self) -> AsyncIterator[AccountEvent]:
        """Order updates of the linear perpetuals (``user.orders.any.any.raw``); see
        :meth:`venues.deribit.streams.DeribitStreams.orders`."""
        currencies = await self._currencies()
        async for ack in self._streams.orders(self._resolve, currencies):
            yield ack

    # --- orders -----------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Send one order on a linear perpetual, label = client order id
        (``private/buy``/``private/sell``, https://docs.deribit.com/#private-buy), exactly once.

        Raises
        ------
        InvalidOrder
            Unknown instrument, a label over 64 characters, or an amount below or off the
            ``min_trade_amount`` step (never sent); the venue's rule violations.
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
        # Sent once: a failed check surfaces as the order's own transport error (outcome
        # "unknown", resolved by the caller's lookup) instead of delaying the order.
        if await self._label_orders(instrument.id.symbol, label, retry=False):
            message = f"deribit: label {label!r} is already used"
            raise DuplicateClientOrderId(
                message, venue=c.VENUE, client_order_id=label, reason="label already used"
            )
        order = DeribitOrderRequest(
            label=label,
            instrument_name=instrument.id.symbol,
            side=request.side,
            amount=request.qty,
            order_type=request.order_type,
            price=request.limit_price,
            time_in_force=_TIME_IN_FORCE[request.time_in_force],
            post_only=request.time_in_force is TimeInForce.POST_ONLY,
            reduce_only=request.reduce_only,
        )
        return await self._submit(order, instrument.id)

    async def submit(self, order: DeribitOrderRequest) -> OrderAck:
        """Send ``order`` (any instrument, venue units: options in coin, inverse perpetuals in
        USD) exactly once, with ``post_only``/``reduce_only``/``valid_until``. The ack's
        quantities are venue units and its instrument id ``deribit:perp:<name>`` for a
        perpetual (options and futures have no common kind: use the label and venue order id).

        Raises
        ------
        InvalidOrder
            A label over 64 characters (never sent), or the venue's rule violations.
        OrderRejected, TransportError, VenueUnavailable
            As :meth:`place_order`.
        """
        if len(order.label) > c.LABEL_MAX_LEN:
            raise _invalid(order.label, f"label longer than {c.LABEL_MAX_LEN} characters")
        return await self._submit(order, p.perp_id(order.instrument_name))

    async def _submit(self, order: DeribitOrderRequest, instrument_id: InstrumentId) -> OrderAck:
        params: dict[str, object] = {
            "instrument_name": order.instrument_name,
            "amount": order.amount,
            "type": order.order_type.value,
            "label": order.label,
            "time_in_force": order.time_in_force,
            "post_only": order.post_only,
            "reject_post_only": order.post_only,
            "reduce_only": order.reduce_only,
        }
        if order.price is not None and order.order_type is OrderType.LIMIT:
            params["price"] = order.price
        if order.valid_until_ms is not None:
            params["valid_until"] = order.valid_until_ms
        send = self._rest.buy if order.side is Side.BUY else self._rest.sell
        result = await send(_json_numbers(params))
        ack = pa.parse_order_response(result, instrument_id)
        log.info(
            "order_sent",
            venue=c.VENUE,
            instrument=order.instrument_name,
            client_order_id=order.label,
            side=order.side.value,
            qty=str(order.amount),
            status=ack.status.value,
        )
        return ack

    async def _label_orders(
        self, instrument_name: str, label: str, *, retry: bool = True
    ) -> list[Mapping[str, object]]:
        currency = self._currency(instrument_name)
        result = await self._rest.get_order_state_by_label(currency, label, retry=retry)
        return pa.order_rows(result, "get_order_state_by_label")

    async def fetch_order_by_label(self, instrument_name: str, label: str) -> OrderAck:
        """The most recent order labelled ``label`` on ``instrument_name``'s currency, with its
        fills (``private/get_order_state_by_label``, then ``private/get_user_trades_by_order``
        when it has any). Venue units. Raises ``OrderNotFound``. Fixture
        ``get_order_state_by_label.json``."""
        rows = [
            r
            for r in await self._label_orders(instrument_name, label)
            if r.get("instrument_name") == instrument_name
        ]
        row = pa.latest_order(rows, "get_order_state_by_label")
        if row is None:
            raise OrderNotFound(f"deribit: no order labelled {label!r}", venue=c.VENUE)
        ack = pa.parse_order(row, p.perp_id(instrument_name), "get_order_state_by_label")
        if ack.filled_qty > 0:
            trades = await self._rest.get_user_trades_by_order(ack.venue_order_id)
            ack = pa.with_fills(ack, pa.parse_trades(trades, ack.instrument_id, label))
        return ack

    async def fetch_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """:meth:`fetch_order_by_label` of our instrument. Raises ``OrderNotFound``."""
        return await self.fetch_order_by_label(instrument_id.symbol, client_order_id)

    async def cancel_order(self, instrument_id: InstrumentId, client_order_id: str) -> OrderAck:
        """``private/cancel_by_label {label, currency}`` (https://docs.deribit.com/#private-
        cancel_by_label; a finished order is simply not counted), then the order as it now
        stands (:meth:`fetch_order`; ``OrderNotFound`` for an unknown label)."""
        with contextlib.suppress(OrderNotFound):
            await self._rest.cancel_by_label(client_order_id, self._currency(instrument_id.symbol))
        return await self.fetch_order(instrument_id, client_order_id)

    async def fetch_open_orders(self) -> list[OrderAck]:
        """Open orders on the linear perpetuals (``private/get_open_orders_by_currency`` of each
        of their currencies), without fills."""
        acks = []
        for currency in await self._currencies():
            rows = pa.order_rows(await self._rest.get_open_orders_by_currency(currency), "open")
            for i, row in enumerate(rows):
                iid = self._resolve(str(row.get("instrument_name")))
                if iid is not None:
                    acks.append(pa.parse_order(row, iid, f"get_open_orders_by_currency[{i}]"))
        return acks

    # --- account ------------------------------------------------------------------------------

    async def fetch_deribit_positions(self, currency: str) -> list[DeribitPosition]:
        """Every position of ``currency`` (``any`` for all), any kind, venue units, with the
        venue's greeks for options (``private/get_positions``,
        https://docs.deribit.com/#private-get_positions)."""
        return pa.parse_deribit_positions(await self._rest.get_positions(currency))

    async def fetch_positions(self) -> list[Position]:
        """Non-zero positions on the linear perpetuals, signed base units."""
        now_ms = self._now_ms()
        positions: list[Position] = []
        for currency in await self._currencies():
            rows = pa.parse_deribit_positions(
                await self._rest.get_positions(currency, c.KIND_FUTURE)
            )
            positions.extend(
                pa.common_position(row, now_ms)
                for row in rows
                if row.size and self._resolve(row.instrument_name) is not None
            )
        return positions

    async def fetch_account_summary(self, currency: str) -> DeribitAccountSummary:
        """Equity, margins, ``delta_total`` and the account's option greeks of ``currency``
        (``private/get_account_summary``, https://docs.deribit.com/#private-get_account_summary).
        Fixture ``get_account_summary.json``."""
        return pa.parse_account_summary(await self._rest.get_account_summary(currency))

    async def fetch_balances(self) -> list[Balance]:
        """One balance per currency of the linear perpetuals (``get_account_summary``)."""
        now_ms = self._now_ms()
        return [
            pa.balance_of(await self.fetch_account_summary(currency), now_ms)
            for currency in await self._currencies()
        ]

    async def fetch_funding_payments(self, since_ms: int) -> list[FundingPayment]:
        """Not served: Deribit accrues perpetual funding continuously and books it only inside
        settlement rows of the transaction log (``interest_pl``), without a rate or interval
        to pair it with. Always raises ``UnsupportedByVenue``."""
        raise UnsupportedByVenue(
            "deribit: funding is booked continuously in settlement rows, not as payments",
            venue=c.VENUE,
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


def _json_numbers(params: Mapping[str, object]) -> dict[str, object]:
    """``Decimal`` values as JSON numbers (Deribit takes numbers, not strings): an int when
    whole, else a float of the exact decimal text (on the tick/lot step, so it round-trips)."""
    out: dict[str, object] = {}
    for key, value in params.items():
        if isinstance(value, Decimal):
            out[key] = int(value) if value == value.to_integral_value() else float(value)
        else:
            out[key] = value
    return out


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
    """Build a :class:`DeribitVenue` (the agent's venue registry calls this).

    Parameters
    ----------
    credentials : Credentials | None
        ``api_key`` = Deribit client id, ``api_secret`` = client secret; ``None`` = market data
        only (private methods raise ``AuthError`` naming what is missing).
    rest_url, ws_url : str | None
        HTTP base and websocket URL; ``None`` = production (``https://www.deribit.com``,
        ``wss://www.deribit.com/ws/api/v2``); testnet ``https://test.deribit.com``.
    transport : httpx.AsyncBaseTransport | None
        Replaces the network (respx / ``MockTransport`` in tests).
    sleep : Callable[[float], Awaitable[None]] | None
        Async sleep (s) for retries, credit buckets and reconnect backoff; when injected, the
        buckets and token renewal run on a virtual clock advanced by it.
    grant : str
        ``client_signature`` (default; the secret never travels) or ``client_credentials``.
    stream_settings : StreamSettings | None
        Heartbeat, watchdog and backoff of the streams.

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

    client = make_rest_client(
        rest_url or c.REST_BASE_URL, transport=transport, clock=clock, sleep=wait
    )
    rest = DeribitRest(
        client,
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
    return DeribitVenue(rest, streams, now_ms)
