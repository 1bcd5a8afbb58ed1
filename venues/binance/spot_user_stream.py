"""Binance spot account stream over the WebSocket API (``userDataStream.subscribe.signature``).

Since 2026-02-20 spot has no listenKey: the user data stream is a subscription on a WebSocket API
connection (Binance spot
https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-api.md "User Data Stream
requests", events in
https://github.com/binance/binance-spot-api-docs/blob/master/user-data-stream.md). Per connection:

1. connect to ``wss://ws-api.binance.com:443/ws-api/v3``;
2. send ``userDataStream.subscribe.signature`` (``apiKey``, ``timestamp``, HMAC signature over
   the sorted params, fresh on every reconnect) and wait for its answer (``status`` 200;
   anything else is an ``AuthError``, not retried);
3. read events wrapped as ``{"subscriptionId", "event"}``: ``executionReport`` → the fill (when
   ``x`` is ``TRADE``) then the :class:`~venues.model.OrderAck`; ``eventStreamTerminated`` →
   reconnect; balance events are skipped (the account model has no balance event).

After a reconnect the open orders are read over REST (``GET /api/v3/openOrders``) and handed
over before new events; per client order id nothing older than what was already yielded is
yielded again (time, then status and filled quantity). The server pings every 20 s; the
library answers, and a quiet account is not mistaken for a dead one (long watchdog).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import aclosing
from dataclasses import replace
from decimal import Decimal
from typing import Any

from venues.base import AccountEvent
from venues.binance import constants as c
from venues.binance.parse import event_fee_assets, parse_order_event
from venues.binance.spot_rest import BinanceSpotRest
from venues.binance.streams import WsSettings
from venues.errors import AuthError, TransportError
from venues.model import OrderAck
from venues.ws import Login, SleepFn, stream

_SUBSCRIBE_ID_PREFIX = "zerobeta-uds-"

#: Commission assets → their USD prices (``BinanceSpotVenue.fee_asset_prices_usd``).
FeePrices = Callable[[Collection[str]], Awaitable[Mapping[str, Decimal]]]


def _login(rest: BinanceSpotRest) -> Login:
    """The signed subscribe request, sent and acknowledged before any event is read."""
    ids = itertools.count(1)
    pending: dict[str, str] = {}

    def messages() -> list[dict[str, Any]]:
        request_id = f"{_SUBSCRIBE_ID_PREFIX}{next(ids)}"
        pending["id"] = request_id
        return [rest.user_stream_subscribe_request(request_id)]

    def accepted(frame: object) -> bool:
        if not isinstance(frame, Mapping) or frame.get("id") != pending.get("id"):
            return False  # an event of an earlier subscription: not ours to judge
        if frame.get("status") == 200:
            return True
        raw_error = frame.get("error")
        error: Mapping[str, Any] = raw_error if isinstance(raw_error, Mapping) else {}
        raise AuthError(
            f"binance spot: user data subscription refused: {error.get('msg', frame)!r}",
            venue=c.VENUE,
            code=None if error.get("code") is None else str(error.get("code")),
        )

    return Login(messages, accepted, yield_ack=True)


async def _acks(frame: object, fee_prices: FeePrices | None) -> list[AccountEvent]:
    """Fill(s) then ack of an ``executionReport``; ``[]`` for other events. A commission in
    another asset (BNB) is priced through ``fee_prices`` first."""
    event = frame.get("event") if isinstance(frame, Mapping) else None
    kind = event.get("e") if isinstance(event, Mapping) else None
    if kind == "eventStreamTerminated":
        raise TransportError("binance spot: user data stream terminated", venue=c.VENUE)
    if kind != "executionReport":
        return []
    assets = event_fee_assets(frame)
    prices = await fee_prices(assets) if assets and fee_prices is not None else None
    ack = parse_order_event(frame, prices)
    return [*ack.fills, ack]


async def spot_account_events(
    rest: BinanceSpotRest,
    *,
    url: str,
    settings: WsSettings,
    open_orders: Callable[[], Awaitable[Sequence[OrderAck]]],
    sleep: SleepFn,
    fee_prices: FeePrices | None = None,
) -> AsyncGenerator[AccountEvent, None]:
    """Yield the spot account's fills and order updates for as long as the caller iterates.

    Parameters
    ----------
    rest : BinanceSpotRest
        Signs the subscription (credentials stay there) and corrects the timestamp.
    url : str
        WebSocket API URL (``wss://ws-api.binance.com:443/ws-api/v3``).
    settings : WsSettings
        Watchdog (``user_watchdog_s``), lifetime, backoff, timeouts.
    open_orders : Callable[[], Awaitable[Sequence[OrderAck]]]
        REST resync after a reconnect (``GET /api/v3/openOrders``).
    sleep : Callable[[float], Awaitable[None]]
        Backoff sleep, seconds.
    fee_prices : Callable[[Collection[str]], Awaitable[Mapping[str, Decimal]]] | None
        USD prices of commission assets other than USD stables and the base (BNB), read
        when a fill is charged in one (the client reads the ``BNBUSDT`` book).

    Raises
    ------
    AuthError
        When the subscription is refused (bad key or signature).
    ProtocolError
        On a malformed event, or a fill charged in an asset ``fee_prices`` cannot price.
    VenueError
        When ``fee_prices`` fails after the REST client's own retries.
    """
    pending: list[AccountEvent] = []
    seen: dict[str, tuple[int, str, Decimal]] = {}

    async def on_reconnect() -> None:
        pending.extend(await open_orders())

    config = replace(
        settings.stream_config(url, "binance.ws.spot_account", settings.user_watchdog_s, list),
        login=_login(rest),
    )
    async with aclosing(stream(config, on_reconnect=on_reconnect, sleep=sleep)) as frames:
        async for frame in frames:
            batch = [*pending, *await _acks(frame, fee_prices)]
            pending.clear()
            for event in batch:
                if isinstance(event, OrderAck):
                    state = (event.ts_event_ms, event.status.value, event.filled_qty)
                    last = seen.get(event.client_order_id)
                    if last is not None and (state[0] < last[0] or state[1:] == last[1:]):
                        continue
                    seen[event.client_order_id] = state
                yield event
