"""Deribit JSON-RPC 2.0 over websocket: subscriptions and heartbeat, on :func:`venues.ws.stream`.

Source: https://docs.deribit.com/#subscriptions (``public/subscribe``,
``private/subscribe``, notification format), https://docs.deribit.com/#public-set_heartbeat
and https://docs.deribit.com/#public-test (heartbeat), https://docs.deribit.com/#public-auth;
channels https://docs.deribit.com/#ticker-instrument_name-interval,
https://docs.deribit.com/#markprice-options-index_name,
https://docs.deribit.com/#user-orders-kind-currency-interval,
https://docs.deribit.com/#user-portfolio-currency.

On every (re)connect (``wss://www.deribit.com/ws/api/v2``):

1. private streams only: ``public/auth`` (grant of :meth:`DeribitRest.auth_params`, signed
   afresh) and wait for its answer — an ``error`` raises ``AuthError`` (fatal);
2. ``public/set_heartbeat {interval}`` then ``public/subscribe`` / ``private/subscribe
   {channels}`` (private ones also carry the connection's ``access_token``);
3. read: a ``heartbeat`` ``test_request`` is answered at once with ``public/test``
   (:attr:`venues.ws.StreamConfig.answer`; unanswered, Deribit closes the connection), the
   server's heartbeats feed the watchdog (3 intervals), the subscribe answer is compared with
   the channels asked for (a channel missing → ``ProtocolError``: a silent failure otherwise),
   an ``error`` answer raises its classified error, and ``subscription`` notifications are
   parsed.

After a reconnect, marks and open orders are resynced over HTTP before reading and yielded
first; per instrument (per order) an update is yielded only if newer than the last one.
"""

from __future__ import annotations

import itertools
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from venues.deribit import constants as c
from venues.deribit.fields import as_object, payload_error
from venues.deribit.parse import notification, parse_mark, parse_option_marks, parse_option_ticker
from venues.deribit.parse_account import order_rows, parse_account_summary, parse_order
from venues.deribit.parse_errors import error_from_envelope
from venues.deribit.rest import DeribitRest
from venues.deribit.types import DeribitAccountSummary
from venues.model import Fill, InstrumentId, MarkPrice, OptionMark, OptionTicker, OrderAck
from venues.ws import Backoff, Login, Message, SleepFn, StreamConfig, stream

log = structlog.get_logger("zerobeta.venues.deribit.ws")

_AUTH_ID = 1
_HEARTBEAT_ID = 2
_SUBSCRIBE_ID = 3
_FIRST_TEST_ID = 100  # answers to test_request: ids of their own

ResolveId = Callable[[str], InstrumentId | None]
"""Our id of a Deribit instrument name, None for one the common model does not trade."""
OrderOf = Callable[[Mapping[str, Any], str], OrderAck | None]
"""An order object (``where`` for messages) as an ack in common units, None when the common
model does not trade its instrument."""
FillOf = Callable[[Mapping[str, Any], str], Fill | None]
"""A trade object as a fill in common units, None when the common model does not trade its
instrument."""


@dataclass(frozen=True)
class StreamSettings:
    """Heartbeat (s, ≥ 10), watchdog (s) and retry policy of the Deribit streams; others as
    in :class:`venues.ws.StreamConfig`. ``watchdog_s`` should exceed the heartbeat interval
    (the server sends a heartbeat every interval when nothing else flows)."""

    heartbeat_interval_s: int = c.HEARTBEAT_INTERVAL_S
    watchdog_s: float = 3.0 * c.HEARTBEAT_INTERVAL_S
    backoff: Backoff = field(default_factory=Backoff)
    open_timeout_s: float = 10.0
    max_lifetime_s: float = 23 * 3600.0
    protocol_ping_interval_s: float | None = 20.0
    proxy: str | Literal[True] | None = True

    def __post_init__(self) -> None:
        if self.heartbeat_interval_s < c.HEARTBEAT_MIN_S:
            raise ValueError(
                f"heartbeat_interval_s must be ≥ {c.HEARTBEAT_MIN_S}, got "
                f"{self.heartbeat_interval_s}"
            )


def request(
    request_id: int, method: str, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON-RPC 2.0 request object."""
    return {"jsonrpc": c.JSONRPC, "id": request_id, "method": method, "params": dict(params or {})}


def heartbeat_answer(counter: Iterator[int]) -> Callable[[Any], Message | None]:
    """The :attr:`~venues.ws.StreamConfig.answer` hook: a ``public/test`` request for each
    ``{"method": "heartbeat", "params": {"type": "test_request"}}`` frame (fixture
    ``ws_heartbeat_test_request.json``), None for any other frame."""

    def answer(frame: Any) -> Message | None:
        if not isinstance(frame, Mapping) or frame.get("method") != c.HEARTBEAT_METHOD:
            return None
        params = frame.get("params")
        if isinstance(params, Mapping) and params.get("type") == c.HEARTBEAT_TEST_REQUEST:
            return request(next(counter), c.TEST)
        return None

    return answer


class _Control:
    """Consumes the answers and heartbeats of one connection; checks the subscription."""

    def __init__(self, channels: Sequence[str], name: str) -> None:
        self._channels = list(channels)
        self._name = name

    def consumed(self, frame: Any) -> bool:
        """True when ``frame`` is not a notification (an answer or a heartbeat).

        Raises
        ------
        VenueError
            An ``error`` answer, classified.
        ProtocolError
            A frame that is not an object, or a subscribe answer missing a channel asked for.
        """
        row = as_object(frame, self._name)
        if row.get("method") == c.SUBSCRIPTION_METHOD:
            return False
        if "error" in row:
            raise error_from_envelope(row)
        if row.get("id") == _SUBSCRIBE_ID:
            granted = row.get("result")
            missing = [
                ch for ch in self._channels if not isinstance(granted, list) or ch not in granted
            ]
            if missing:
                raise payload_error(self._name, f"subscription refused for {missing}")
        return True


class _Latest:
    """Per key, pass only an update newer than the last one passed: a later time, or (with
    ``same_time_ok``: order states) the same time with another state."""

    def __init__(self, *, same_time_ok: bool = False) -> None:
        self._last: dict[str, tuple[int, Any]] = {}
        self._same_time_ok = same_time_ok

    def is_new(self, key: str, ts_ms: int, state: Any) -> bool:
        last = self._last.get(key)
        if last is not None and (
            ts_ms < last[0]
            or (ts_ms, state) == last
            or (ts_ms == last[0] and not self._same_time_ok)
        ):
            return False
        self._last[key] = (ts_ms, state)
        return True


class DeribitStreams:
    """Deribit websocket streams.

    Parameters
    ----------
    rest : DeribitRest
        HTTP resync after a reconnect and the signed ``public/auth`` params.
    url : str
        ``wss://www.deribit.com/ws/api/v2`` (production).
    settings : StreamSettings
    sleep : Callable[[float], Awaitable[None]]
        Async sleep (s) for reconnect backoff.
    """

    def __init__(self, rest: DeribitRest, *, url: str, settings: StreamSettings, sleep: SleepFn):
        self._rest = rest
        self._url = url
        self._settings = settings
        self._sleep = sleep

    def _config(self, channels: list[str], name: str, *, private: bool) -> StreamConfig:
        s = self._settings
        token: dict[str, str] = {}

        def messages() -> list[Message]:
            subscribe: dict[str, Any] = {"channels": channels}
            if private and "access_token" in token:
                subscribe["access_token"] = token["access_token"]
            method = c.PRIVATE_SUBSCRIBE if private else c.PUBLIC_SUBSCRIBE
            return [
                request(_HEARTBEAT_ID, c.SET_HEARTBEAT, {"interval": s.heartbeat_interval_s}),
                request(_SUBSCRIBE_ID, method, subscribe),
            ]

        def authenticated(frame: Any) -> bool:
            row = as_object(frame, name)
            if row.get("id") != _AUTH_ID:
                return False
            if "error" in row:
                raise error_from_envelope(row)
            result = as_object(row.get("result"), f"{name}.auth")
            value = result.get("access_token")
            if isinstance(value, str):
                token["access_token"] = value
            return True

        login = None
        if private:
            login = Login(
                lambda: [request(_AUTH_ID, c.AUTH, self._rest.auth_params())], authenticated
            )
        return StreamConfig(
            url=self._url,
            subscribe_messages=messages,
            watchdog_s=s.watchdog_s,
            max_lifetime_s=s.max_lifetime_s,
            backoff=s.backoff,
            name=name,
            open_timeout_s=s.open_timeout_s,
            protocol_ping_interval_s=s.protocol_ping_interval_s,
            proxy=s.proxy,
            login=login,
            answer=heartbeat_answer(itertools.count(_FIRST_TEST_ID)),
        )

    async def _notifications(
        self,
        channels: list[str],
        name: str,
        *,
        private: bool = False,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncIterator[tuple[str, Any] | None]:
        """``(channel, data)`` of each notification; ``None`` after any other frame (so a
        consumer holding resync results can hand them out)."""
        control = _Control(channels, name)
        frames = stream(
            self._config(channels, name, private=private),
            on_reconnect=on_reconnect,
            sleep=self._sleep,
        )
        try:
            async for frame in frames:
                yield None if control.consumed(frame) else notification(frame)
        finally:
            await frames.aclose()

    # --- public ---------------------------------------------------------------------------

    async def marks(
        self, instrument_ids: Sequence[InstrumentId]
    ) -> AsyncGenerator[MarkPrice, None]:
        """Mark (and index) prices from ``ticker.{instrument}.100ms``; after a reconnect the
        tickers are read over HTTP (``public/ticker``) first. Per instrument never a duplicate
        or an older update. Fixture ``ws_ticker_btc_perpetual.json``."""
        by_name = {i.symbol: i for i in instrument_ids}
        channels = [
            c.CHANNEL_TICKER.format(instrument=n, interval=c.INTERVAL_PUBLIC) for n in by_name
        ]
        latest, pending = _Latest(), list[MarkPrice]()

        async def resync() -> None:
            for iid in by_name.values():
                pending.append(parse_mark(await self._rest.ticker(iid.symbol), iid))

        async for item in self._notifications(channels, "deribit.ws.marks", on_reconnect=resync):
            marks = list(pending)
            pending.clear()
            if item is not None:
                data = as_object(item[1], item[0])
                iid = by_name.get(str(data.get("instrument_name")))
                if iid is not None:
                    marks.append(parse_mark(data, iid, item[0]))
            for mark in marks:
                if latest.is_new(str(mark.instrument_id), mark.ts_event_ms, mark.mark_price):
                    yield mark

    async def option_tickers(self, names: Sequence[str]) -> AsyncIterator[OptionTicker]:
        """Option tickers (mark, IVs, greeks) from ``ticker.{instrument}.100ms``. Fixture
        ``ws_ticker_btc_option_constructed.json``."""
        channels = [
            c.CHANNEL_TICKER.format(instrument=n, interval=c.INTERVAL_PUBLIC) for n in names
        ]
        async for item in self._notifications(channels, "deribit.ws.option_tickers"):
            if item is not None:
                yield parse_option_ticker(item[1], item[0])

    async def option_marks(self, index_name: str) -> AsyncIterator[list[OptionMark]]:
        """Every option's mark price and IV (fraction) on ``index_name`` (``btc_usd``), one
        list per ``markprice.options.{index_name}`` push. Fixture ``ws_markprice_options.json``."""
        channels = [c.CHANNEL_MARKPRICE_OPTIONS.format(index_name=index_name)]
        async for item in self._notifications(channels, "deribit.ws.option_marks"):
            if item is not None:
                yield parse_option_marks(item[1])

    # --- private --------------------------------------------------------------------------

    async def orders(
        self, resolve: ResolveId, currencies: Sequence[str]
    ) -> AsyncIterator[OrderAck]:
        """Order updates of the account (``user.orders.any.any.raw``, after ``public/auth``)
        for the instruments ``resolve`` knows, label = client order id, base units. After a
        reconnect the open orders (``private/get_open_orders_by_currency`` of each of
        ``currencies``) are yielded first; per order never a duplicate or an older state.
        Fixture ``ws_user_orders.json``. Raises ``AuthError`` if the login is refused."""
        channel = c.CHANNEL_USER_ORDERS.format(kind="any", currency="any", interval=c.INTERVAL_RAW)
        latest, pending = _Latest(same_time_ok=True), list[OrderAck]()

        def acks(rows: list[Mapping[str, Any]], where: str) -> list[OrderAck]:
            found = []
            for i, row in enumerate(rows):
                iid = resolve(str(row.get("instrument_name")))
                if iid is not None:
                    found.append(parse_order(row, iid, f"{where}[{i}]"))
            return found

        async def resync() -> None:
            for currency in currencies:
                rows = order_rows(await self._rest.get_open_orders_by_currency(currency), "open")
                pending.extend(acks(rows, "get_open_orders_by_currency"))

        updates = self._notifications(
            [channel], "deribit.ws.orders", private=True, on_reconnect=resync
        )
        async for item in updates:
            found = list(pending)
            pending.clear()
            if item is not None:
                found += acks(order_rows(item[1], item[0]), item[0])
            for ack in found:
                state = (ack.status.value, ack.filled_qty)
                if latest.is_new(ack.venue_order_id, ack.ts_event_ms, state):
                    yield ack

    async def account(
        self, order_of: OrderOf, fill_of: FillOf, currencies: Sequence[str]
    ) -> AsyncGenerator[OrderAck | Fill, None]:
        """Order updates and own trades of the account, on one authenticated connection
        (``user.orders.any.any.raw`` and ``user.trades.any.any.raw``,
        https://docs.deribit.com/#user-orders-kind-currency-interval,
        https://docs.deribit.com/#user-trades-kind-currency-interval), converted by
        ``order_of`` / ``fill_of``. After a reconnect the open orders
        (``private/get_open_orders_by_currency``) and the recent trades
        (``private/get_user_trades_by_currency``) of each of ``currencies`` are yielded first.
        Per order never a duplicate or an older state; each trade once (by ``trade_id``).
        Fixture ``ws_user_orders.json``. Raises ``AuthError`` if the login is refused."""
        channels = [
            ch.format(kind="any", currency="any", interval=c.INTERVAL_RAW)
            for ch in (c.CHANNEL_USER_ORDERS, c.CHANNEL_USER_TRADES)
        ]
        latest, seen, pending = _Latest(same_time_ok=True), set[str](), list[OrderAck | Fill]()

        def events(rows: Sequence[Mapping[str, Any]], where: str, trades: bool) -> list[Any]:
            convert = fill_of if trades else order_of
            found = (convert(row, f"{where}[{i}]") for i, row in enumerate(rows))
            return [e for e in found if e is not None]

        async def resync() -> None:
            for currency in currencies:
                rows = order_rows(await self._rest.get_open_orders_by_currency(currency), "open")
                pending.extend(events(rows, "get_open_orders_by_currency", trades=False))
                result = as_object(
                    await self._rest.get_user_trades_by_currency(currency), "user_trades"
                )
                rows = order_rows(result.get("trades"), "get_user_trades_by_currency")
                pending.extend(events(rows, "get_user_trades_by_currency", trades=True))

        updates = self._notifications(
            channels, "deribit.ws.account", private=True, on_reconnect=resync
        )
        async for item in updates:
            found = list(pending)
            pending.clear()
            if item is not None:
                channel, data = item
                trades = channel.startswith("user.trades.")
                found += events(order_rows(data, channel), channel, trades)
            for event in found:
                if isinstance(event, Fill):
                    if event.trade_id not in seen:
                        seen.add(event.trade_id)
                        yield event
                elif latest.is_new(
                    event.venue_order_id, event.ts_event_ms, (event.status.value, event.filled_qty)
                ):
                    yield event

    async def portfolio(self, currency: str) -> AsyncIterator[DeribitAccountSummary]:
        """Account summary pushes of ``user.portfolio.{currency}`` (``any`` for all), after
        ``public/auth``. Fixture ``ws_user_portfolio.json``."""
        channels = [c.CHANNEL_USER_PORTFOLIO.format(currency=currency)]
        async for item in self._notifications(channels, "deribit.ws.portfolio", private=True):
            if item is not None:
                yield parse_account_summary(item[1], item[0])
