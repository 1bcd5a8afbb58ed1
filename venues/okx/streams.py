"""OKX v5 websocket streams over :func:`venues.ws.stream`.

Source: OKX API v5 "WebSocket" https://www.okx.com/docs-v5/en/#overview-websocket (connect, login,
subscribe, heartbeat, limits) and the channel sections of https://www.okx.com/docs-v5/en/ ("Public
Data" → "WebSocket" → "Mark price channel", "Funding rate channel"; "Order Book Trading" → "Market
Data" → "WebSocket" → "Tickers channel"; "Order Book Trading" → "Trade" → "WebSocket" → "Order
channel").

* Public (``wss://ws.okx.com:8443/ws/v5/public``): ``mark-price`` for perps, ``tickers``
  for spot (mark = mid of best bid/ask), ``funding-rate`` for upcoming funding. One
  ``{"op": "subscribe", "args": [...]}`` per (re)connect.
* Private (``/ws/v5/private``): the ``login`` op (signed with the server-corrected clock,
  unix seconds), then ``orders`` with ``instType=ANY``.
* Heartbeat: the text frame ``ping`` every ``ping_interval_s`` (< 30 s, OKX drops a
  connection silent for 30 s); its text ``pong`` is dropped before JSON decoding
  (``StreamConfig.skip_frame``) but still feeds the watchdog.
* After a reconnect the stream resyncs over REST (``GET /api/v5/public/mark-price``,
  ``/market/ticker``, ``/public/funding-rate``, or ``/trade/orders-pending``) before reading;
  those results are yielded first. Per instrument (per order) an update is yielded only if it
  is newer than the last one yielded, so the consumer never sees a duplicate or an older one.
* ``{"event": "error"}`` frames raise their classified error (login failure ``60009`` →
  ``AuthError``); ``subscribe``/``login``/``notice`` events are consumed here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal, TypeVar

import structlog

from venues.base import AccountEvent
from venues.errors import ProtocolError
from venues.model import FundingRate, InstrumentId, InstrumentKind, MarkPrice, OrderAck, Quote
from venues.okx import constants as c
from venues.okx.fields import data_rows
from venues.okx.orders import decoded, push_fill
from venues.okx.parse import (
    error_from_payload,
    order_from_row,
    parse_funding_rates,
    parse_mark_prices,
    parse_tickers,
    parse_ws_funding_rates,
    parse_ws_mark_prices,
    parse_ws_tickers,
)
from venues.okx.rest import OkxRest
from venues.ws import Backoff, Login, SleepFn, StreamConfig, stream

log = structlog.get_logger("zerobeta.venues.okx.ws")

Update = MarkPrice | FundingRate
_U = TypeVar("_U", MarkPrice, FundingRate)
Multipliers = Callable[[], Awaitable[dict[str, Decimal]]]


@dataclass(frozen=True)
class StreamSettings:
    """Timeouts (s) and retry policy of the OKX streams.

    ``ping_interval_s`` must stay under OKX's 30 s idle cut; ``watchdog_s`` exceeds the
    10 s heartbeat of ``mark-price`` (pushed every 10 s even when unchanged). Others as in
    :class:`venues.ws.StreamConfig`.
    """

    ping_interval_s: float = c.WS_IDLE_PING_S
    watchdog_s: float = 30.0
    backoff: Backoff = field(default_factory=Backoff)
    open_timeout_s: float = 10.0
    max_lifetime_s: float = 23 * 3600.0
    protocol_ping_interval_s: float | None = 20.0
    proxy: str | Literal[True] | None = True


def is_pong(raw: str | bytes) -> bool:
    """OKX's heartbeat answer, the bare text ``pong``."""
    return raw in (c.WS_PONG, c.WS_PONG.encode())


def _mark_from_quote(quote: Quote) -> MarkPrice:
    return MarkPrice(quote.instrument_id, quote.mid, quote.ts_event_ms)


def _control(message: object, name: str) -> bool:
    """Consume an ``event`` frame: ``True`` if it was one; raises on ``event: error``."""
    if not isinstance(message, Mapping):
        raise ProtocolError(f"{name}: frame is not an object", venue=c.VENUE)
    event = message.get("event")
    if event is None:
        return False
    if event == "error" or (event == "login" and message.get("code") != c.CODE_OK):
        raise error_from_payload(message, c.VENUE)
    if event == "notice":
        log.warning("ws_notice_received", stream=name, msg=str(message.get("msg", "")))
    return True


def _public_updates(message: Mapping[str, Any]) -> list[Update]:
    channel = (
        message.get("arg", {}).get("channel") if isinstance(message.get("arg"), Mapping) else None
    )
    if channel == c.CHANNEL_MARK_PRICE:
        return list(parse_ws_mark_prices(message))
    if channel == c.CHANNEL_TICKERS:
        return [_mark_from_quote(q) for q in parse_ws_tickers(message)]
    if channel == c.CHANNEL_FUNDING_RATE:
        return list(parse_ws_funding_rates(message))
    raise ProtocolError(f"okx ws: push of unexpected channel {channel!r}", venue=c.VENUE)


class _Latest:
    """Yields an update only if newer than the last one yielded for its key."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, InstrumentId], tuple[int, float]] = {}

    def is_new(self, update: Update) -> bool:
        if isinstance(update, MarkPrice):
            key, stamp = ("mark", update.instrument_id), (update.ts_event_ms, update.mark_price)
        else:
            key, stamp = ("funding", update.instrument_id), (update.ts_funding_ms, update.rate)
        last = self._last.get(key)
        if last is not None and (stamp[0] < last[0] or stamp == last):
            return False
        if isinstance(update, MarkPrice) and last is not None and stamp[0] == last[0]:
            return False  # same event time, another value: an older snapshot re-sent
        self._last[key] = stamp
        return True


class OkxStreams:
    """Public and private OKX websocket streams.

    Parameters
    ----------
    rest : OkxRest
        For the REST resync after a reconnect and the login signature.
    public_url, private_url : str
        Websocket URLs (production: ``constants.WS_PUBLIC_URL`` / ``WS_PRIVATE_URL``).
    settings : StreamSettings
    sleep : Callable[[float], Awaitable[None]]
        Async sleep (s) for reconnect backoff.
    """

    def __init__(
        self,
        rest: OkxRest,
        *,
        public_url: str,
        private_url: str,
        settings: StreamSettings,
        sleep: SleepFn,
    ) -> None:
        self._rest = rest
        self._public_url = public_url
        self._private_url = private_url
        self._settings = settings
        self._sleep = sleep

    def _config(self, url: str, messages: Callable[[], Sequence[Any]], name: str) -> StreamConfig:
        s = self._settings
        return StreamConfig(
            url=url,
            subscribe_messages=messages,
            ping=(s.ping_interval_s, lambda: c.WS_PING),
            watchdog_s=s.watchdog_s,
            max_lifetime_s=s.max_lifetime_s,
            backoff=s.backoff,
            name=name,
            skip_frame=is_pong,
            open_timeout_s=s.open_timeout_s,
            protocol_ping_interval_s=s.protocol_ping_interval_s,
            proxy=s.proxy,
        )

    def marks(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarkPrice]:
        """Mark prices (perps: ``mark-price``; spot: mid of ``tickers``), reconnecting and
        resyncing on its own; per instrument never a duplicate or an older update."""
        ids = list(instrument_ids)
        args = [
            {
                "channel": c.CHANNEL_MARK_PRICE
                if i.kind is InstrumentKind.PERP
                else c.CHANNEL_TICKERS,
                "instId": i.symbol,
            }
            for i in ids
        ]

        async def resync() -> list[Update]:
            found: list[Update] = []
            for iid in ids:
                if iid.kind is InstrumentKind.PERP:
                    payload = await self._rest.get_mark_price(c.INST_TYPE_SWAP, iid.symbol)
                    found += parse_mark_prices(payload)
                else:
                    found += [
                        _mark_from_quote(q)
                        for q in parse_tickers(await self._rest.get_ticker(iid.symbol))
                    ]
            return found

        return self._public(ids, args, resync, MarkPrice, "okx.ws.marks")

    def funding(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[FundingRate]:
        """Upcoming funding (``funding-rate``, pushed every 30–90 s) of perps, reconnecting
        and resyncing (``GET /api/v5/public/funding-rate``) on its own."""
        ids = list(instrument_ids)
        args = [{"channel": c.CHANNEL_FUNDING_RATE, "instId": i.symbol} for i in ids]

        async def resync() -> list[Update]:
            found: list[Update] = []
            for iid in ids:
                found += parse_funding_rates(await self._rest.get_funding_rate(iid.symbol))
            return found

        return self._public(ids, args, resync, FundingRate, "okx.ws.funding")

    async def _public(
        self,
        ids: list[InstrumentId],
        args: list[dict[str, str]],
        resync: Callable[[], Awaitable[list[Update]]],
        kind: type[_U],
        name: str,
    ) -> AsyncIterator[_U]:
        wanted, latest, pending = set(ids), _Latest(), list[Update]()

        async def on_reconnect() -> None:
            pending.extend(await resync())

        config = self._config(self._public_url, lambda: [{"op": "subscribe", "args": args}], name)
        frames = stream(config, on_reconnect=on_reconnect, sleep=self._sleep)
        try:
            async for message in frames:
                updates = pending + ([] if _control(message, name) else _public_updates(message))
                pending.clear()
                for update in updates:
                    if (
                        isinstance(update, kind)
                        and update.instrument_id in wanted
                        and latest.is_new(update)
                    ):
                        yield update
        finally:
            await _aclose(frames)

    async def account(self, multipliers: Multipliers) -> AsyncIterator[AccountEvent]:
        """Order updates of the account (private ``orders`` channel, ``instType=ANY``), in
        base units with our client order ids; an update whose push carries a new fill
        (``tradeId``) is yielded with that fill. After a reconnect, the open orders of ``GET
        /api/v5/trade/orders-pending`` are yielded first. Per order never a duplicate or an
        older state. Raises ``AuthError`` if the login is refused (``60009``)."""
        contracts = await multipliers()
        seen: dict[str, tuple[int, str, Decimal]] = {}
        pending: list[OrderAck] = []

        async def on_reconnect() -> None:
            payload = await self._rest.get_orders_pending()
            pending.extend(decoded(order_from_row(row, contracts)) for row in data_rows(payload))

        def messages() -> list[Any]:
            subscribe = {
                "op": "subscribe",
                "args": [{"channel": c.CHANNEL_ORDERS, "instType": "ANY"}],
            }
            return [subscribe]

        def logged_in(message: object) -> bool:
            """The ``login`` ack (raises on a refusal or an ``error`` event)."""
            return _control(message, "okx.ws.account") and (
                isinstance(message, Mapping) and message.get("event") == "login"
            )

        config = replace(
            self._config(self._private_url, messages, "okx.ws.account"),
            login=Login(lambda: [self._rest.ws_login_message()], logged_in),
        )
        frames = stream(config, on_reconnect=on_reconnect, sleep=self._sleep)
        try:
            async for message in frames:
                acks = pending + (
                    [] if _control(message, config.name) else _order_acks(message, contracts)
                )
                pending.clear()
                for ack in acks:
                    state = (ack.ts_event_ms, ack.status.value, ack.filled_qty)
                    last = seen.get(ack.client_order_id)
                    if last is not None and (state[0] < last[0] or state[1:] == last[1:]):
                        continue
                    seen[ack.client_order_id] = state
                    yield ack
        finally:
            await _aclose(frames)


async def _aclose(frames: AsyncIterator[Any]) -> None:
    """Close the websocket generator now (not at garbage collection)."""
    close = getattr(frames, "aclose", None)
    if close is not None:
        await close()


def _order_acks(message: Mapping[str, Any], contracts: Mapping[str, Decimal]) -> list[OrderAck]:
    arg = message.get("arg")
    if not isinstance(arg, Mapping) or arg.get("channel") != c.CHANNEL_ORDERS:
        raise ProtocolError("okx ws: private push of an unexpected channel", venue=c.VENUE)
    data = message.get("data")
    if not isinstance(data, list):
        raise ProtocolError("okx ws: field 'data' of an orders push is not an array", venue=c.VENUE)
    acks = []
    for row in data_rows({"code": c.CODE_OK, "msg": "", "data": data}):
        ack, fill = decoded(order_from_row(row, contracts)), push_fill(row, contracts)
        acks.append(ack if fill is None else dataclasses.replace(ack, fills=(fill,)))
    return acks
