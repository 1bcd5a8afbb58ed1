"""Hyperliquid websocket streams over :func:`venues.ws.stream`.

Source: Hyperliquid "Websocket"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket, "Subscriptions"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions,
"Timeouts and heartbeats"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/timeouts-and-heartbeats.

* Marks: one ``activeAssetCtx`` subscription per coin (mark price, oracle as index price,
  the hour's funding); frames are stamped with their receipt time (the venue sends none).
  :meth:`HyperliquidStreams.market` also yields the hour's predicted funding from them.
* Account: ``orderUpdates``, ``userFills`` and ``userEvents`` for the account address —
  subscriptions are keyed by the address and need **no signature** ("Subscriptions").
  ``userEvents`` carries funding settlements; its fills duplicate ``userFills`` and are
  deduplicated on ``(coin, tid, time)``.
* Heartbeat: the server closes a connection it has sent nothing to for 60 s; we send
  ``{"method":"ping"}`` every 50 s (the SDK's interval) and the ``pong`` reply feeds the
  watchdog, which drops a connection silent for 60 s. The non-JSON text frame
  ``Websocket connection established.`` is skipped.
* Reconnect: jittered backoff (reset after a connection that delivered data), every
  subscription re-sent, then a REST resync: marks from ``metaAndAssetCtxs``, open orders from
  ``openOrders``; fills missed while away arrive in the ``userFills`` snapshot the venue sends
  after each (re)subscription (the first connection's snapshot is history and is not yielded).
* Consumers never see a duplicate or an older update: marks per instrument only when the
  mark/index changed and never with an older timestamp; order updates per order only when
  status or filled quantity changed; fills once per trade; funding once per (hour, coin).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from venues.base import AccountEvent
from venues.hyperliquid import constants as c
from venues.hyperliquid.orders import CloidMap
from venues.hyperliquid.parse import (
    parse_ws_active_asset_ctx,
    parse_ws_fills,
    parse_ws_order_updates,
    ws_channel,
)
from venues.hyperliquid.parse_extra import parse_ws_user_event_funding
from venues.model import Fill, FundingPayment, FundingRate, InstrumentId, MarkPrice, OrderAck
from venues.ws import Backoff, StreamConfig, stream

SleepFn = Callable[[float], Awaitable[None]]
MarksResync = Callable[[Sequence[InstrumentId]], Awaitable[list[MarkPrice]]]
OrdersResync = Callable[[], Awaitable[list[OrderAck]]]


@dataclass(frozen=True)
class StreamSettings:
    """Websocket timing, seconds (defaults: the venue's heartbeat rules, "Timeouts and heartbeats"
    and "Rate limits and user limits"
    https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/rate-limits-and-user-limits).

    ``ping_interval_s`` application ping; ``watchdog_s`` silence after which the connection
    is replaced; ``backoff`` reconnect delays; ``proxy`` as :class:`venues.ws.StreamConfig`.
    """

    ping_interval_s: float = c.WS_PING_INTERVAL_S
    watchdog_s: float = c.WS_SERVER_IDLE_TIMEOUT_S
    backoff: Backoff = field(default_factory=Backoff)
    open_timeout_s: float = 10.0
    protocol_ping_interval_s: float | None = 20.0
    proxy: str | Literal[True] | None = True


def _skip_frame(raw: str | bytes) -> bool:
    return raw == c.WS_CONNECTED_TEXT


def _subscribe(subscription: dict[str, str]) -> dict[str, Any]:
    return {"method": "subscribe", "subscription": subscription}


class _MarkGate:
    """Per instrument: pass a mark only if it changed and is not older than the last one."""

    def __init__(self) -> None:
        self._last: dict[InstrumentId, MarkPrice] = {}

    def accept(self, mark: MarkPrice) -> bool:
        last = self._last.get(mark.instrument_id)
        if last is not None and (
            mark.ts_event_ms < last.ts_event_ms
            or (mark.mark_price, mark.index_price) == (last.mark_price, last.index_price)
        ):
            return False
        self._last[mark.instrument_id] = mark
        return True


class _FundingGate:
    """Per instrument: pass a predicted rate only if its rate or settlement hour changed, and
    never one settling before the last passed."""

    def __init__(self) -> None:
        self._last: dict[InstrumentId, tuple[int, float]] = {}

    def accept(self, funding: FundingRate) -> bool:
        key = (funding.ts_funding_ms, funding.rate)
        last = self._last.get(funding.instrument_id)
        if last is not None and (key == last or key[0] < last[0]):
            return False
        self._last[funding.instrument_id] = key
        return True


class _AccountGate:
    """Dedupe of account events (orders by oid, fills by trade, funding by hour and coin)."""

    def __init__(self, cloids: CloidMap) -> None:
        self._cloids = cloids
        self._orders: dict[str, tuple[int, str, Decimal]] = {}
        self._fills: set[tuple[InstrumentId, str, int]] = set()
        self._funding: set[tuple[int, InstrumentId]] = set()
        self.snapshot_is_history = True

    def order(self, ack: OrderAck) -> OrderAck | None:
        last = self._orders.get(ack.venue_order_id)
        if last is not None and (
            ack.ts_event_ms < last[0] or (ack.status.value, ack.filled_qty) == last[1:]
        ):
            return None
        self._orders[ack.venue_order_id] = (ack.ts_event_ms, ack.status.value, ack.filled_qty)
        return self._cloids.restore(ack)

    def fills(self, is_snapshot: bool, fills: list[Fill]) -> list[Fill]:
        fresh = []
        for fill in sorted(fills, key=lambda f: (f.ts_event_ms, f.trade_id)):
            key = (fill.instrument_id, fill.trade_id, fill.ts_event_ms)
            if key not in self._fills:
                self._fills.add(key)
                fresh.append(
                    replace(fill, client_order_id=self._cloids.our_id(fill.client_order_id))
                )
        return [] if is_snapshot and self.snapshot_is_history else fresh

    def funding(self, payment: FundingPayment | None) -> FundingPayment | None:
        if (
            payment is None
            or (key := (payment.ts_funding_ms, payment.instrument_id)) in self._funding
        ):
            return None
        self._funding.add(key)
        return payment


class HyperliquidStreams:
    """Builds the venue's streams.

    Parameters
    ----------
    url : str
        ``wss://api.hyperliquid.xyz/ws`` (or testnet / a test server).
    now_ms : Callable[[], int]
        Receipt clock, epoch ms.
    sleep : Callable[[float], Awaitable[None]]
        Reconnect backoff sleep (tests inject a fake).
    settings : StreamSettings
        Timeouts and backoff.
    """

    def __init__(
        self,
        url: str,
        now_ms: Callable[[], int],
        sleep: SleepFn = asyncio.sleep,
        settings: StreamSettings | None = None,
    ) -> None:
        self._url = url
        self._now_ms = now_ms
        self._sleep = sleep
        self._settings = settings or StreamSettings()

    def _config(self, name: str, subscriptions: Sequence[dict[str, str]]) -> StreamConfig:
        s = self._settings
        messages = [_subscribe(sub) for sub in subscriptions]
        return StreamConfig(
            url=self._url,
            subscribe_messages=lambda: messages,
            ping=(s.ping_interval_s, lambda: dict(c.WS_PING)),
            watchdog_s=s.watchdog_s,
            backoff=s.backoff,
            name=name,
            skip_frame=_skip_frame,
            open_timeout_s=s.open_timeout_s,
            protocol_ping_interval_s=s.protocol_ping_interval_s,
            protocol_ping_timeout_s=s.protocol_ping_interval_s,
            proxy=s.proxy,
        )

    def _open(
        self, config: StreamConfig, on_reconnect: Callable[[], Awaitable[None]]
    ) -> AsyncGenerator[Any, None]:
        return stream(config, on_reconnect=on_reconnect, sleep=self._sleep)

    async def marks(
        self, instrument_ids: Sequence[InstrumentId], resync: MarksResync
    ) -> AsyncIterator[MarkPrice]:
        """Mark prices of ``instrument_ids`` as they change, forever (see module docstring).

        Raises ``ProtocolError`` on a malformed or ``error`` frame (fatal: config is wrong).
        """
        async with aclosing(self._updates(instrument_ids, resync, False)) as updates:
            async for update in updates:
                if isinstance(update, MarkPrice):
                    yield update

    def market(
        self, instrument_ids: Sequence[InstrumentId], resync: MarksResync
    ) -> AsyncIterator[MarkPrice | FundingRate]:
        """:meth:`marks` with the hour's predicted funding of each coin (``activeAssetCtx``
        ``funding``, settling at the next full UTC hour) yielded after its mark whenever the
        rate or the settlement hour changed (never an earlier hour than one yielded)."""
        return self._updates(instrument_ids, resync, True)

    async def _updates(
        self, instrument_ids: Sequence[InstrumentId], resync: MarksResync, with_funding: bool
    ) -> AsyncGenerator[MarkPrice | FundingRate, None]:
        wanted = set(instrument_ids)
        gate = _MarkGate()
        funding_gate = _FundingGate()
        pending: list[MarkPrice] = []

        async def on_reconnect() -> None:
            pending.extend(await resync(list(instrument_ids)))

        subs = [{"type": "activeAssetCtx", "coin": iid.symbol} for iid in instrument_ids]
        config = self._config("hyperliquid.ws.marks", subs)
        async with aclosing(self._open(config, on_reconnect)) as frames:
            async for frame in frames:
                batch: list[MarkPrice | FundingRate] = [*pending, *self._updates_of(frame, wanted)]
                pending.clear()
                for update in batch:
                    if isinstance(update, MarkPrice):
                        if gate.accept(update):
                            yield update
                    elif with_funding and funding_gate.accept(update):
                        yield update

    def _updates_of(
        self, frame: object, wanted: set[InstrumentId]
    ) -> list[MarkPrice | FundingRate]:
        channel, _ = ws_channel(frame)
        if channel != "activeAssetCtx":
            return []  # subscriptionResponse, pong
        mark, funding = parse_ws_active_asset_ctx(frame, self._now_ms())
        return [mark, funding] if mark.instrument_id in wanted else []

    async def account(
        self, user: str, resync: OrdersResync, cloids: CloidMap
    ) -> AsyncIterator[AccountEvent]:
        """Order updates, fills and funding payments of ``user`` (lower-case address).

        Raises ``ProtocolError`` on a malformed or ``error`` frame.
        """
        gate = _AccountGate(cloids)
        pending: list[OrderAck] = []

        async def on_reconnect() -> None:
            gate.snapshot_is_history = False
            pending.extend(await resync())

        subs = [{"type": t, "user": user} for t in ("orderUpdates", "userFills", "userEvents")]
        config = self._config("hyperliquid.ws.account", subs)
        async with aclosing(self._open(config, on_reconnect)) as frames:
            async for frame in frames:
                events: list[AccountEvent] = [o for o in map(gate.order, pending) if o]
                pending.clear()
                events.extend(self._account_events(frame, gate))
                for event in events:
                    yield event

    @staticmethod
    def _account_events(frame: object, gate: _AccountGate) -> list[AccountEvent]:
        channel, _ = ws_channel(frame)
        if channel == "orderUpdates":
            return [a for a in map(gate.order, parse_ws_order_updates(frame)) if a is not None]
        if channel in ("userFills", "user"):
            events: list[AccountEvent] = list(gate.fills(*parse_ws_fills(frame)))
            if channel == "user" and (pay := gate.funding(parse_ws_user_event_funding(frame))):
                events.append(pay)
            return events
        return []  # subscriptionResponse, pong
