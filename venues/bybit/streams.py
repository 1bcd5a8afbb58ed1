"""Bybit v5 websocket streams over :func:`venues.ws.stream`: marks and the private account.

Source: Bybit v5 "Connect" https://bybit-exchange.github.io/docs/v5/ws/connect (authentication,
heartbeat), "Ticker" https://bybit-exchange.github.io/docs/v5/websocket/public/ticker and the
private topics "Order" https://bybit-exchange.github.io/docs/v5/websocket/private/order, "Execution"
https://bybit-exchange.github.io/docs/v5/websocket/private/execution, "Wallet"
https://bybit-exchange.github.io/docs/v5/websocket/private/wallet; fixtures
``ws_tickers_*_snapshot.json``, ``ws_subscribe_ack_*.json``, ``ws_pong_*.json``, ``ws_auth_*.json``.

* Marks: ``tickers.<symbol>`` on ``/v5/public/linear`` (one ``snapshot`` then ``delta`` frames
  with only the changed fields, merged by :class:`~venues.bybit.book.TickerMerger`) and on
  ``/v5/public/spot`` (snapshots). **Spot has no mark price: ``lastPrice`` stands in**, with
  ``usdIndexPrice`` as the index. Spot takes at most 10 topics per subscribe request.
* Heartbeat: ``{"req_id": "ping", "op": "ping"}`` every 20 s (Bybit's advice; the server cuts
  a connection idle for ~10 min); a silent connection (watchdog) is re-opened.
* Reconnect: :func:`venues.ws.stream` re-sends auth + subscriptions; the ticker state is reset
  and the current marks (or open orders) are fetched over REST, so nothing changed during the
  gap is missed. Per instrument, a mark is yielded only when its ``ts`` is newer than the last
  one yielded and the mark or index changed: never a duplicate, never an older update.
* Predicted funding (:meth:`BybitStreams.market`): the same linear ``tickers`` state carries
  ``fundingRate`` settling at ``nextFundingTime`` (``fundingIntervalHour``); it is yielded
  after the mark whenever the rate or the settlement time changed, per instrument never one
  settling before the last yielded.
* Account: ``/v5/private`` with the ``auth`` op (``expires`` + HMAC of ``GET/realtime`` +
  expires, fresh on every connect), then ``order``, ``execution`` and ``wallet``. Orders →
  :class:`~venues.model.OrderAck` (an update is yielded when ``updatedTime`` or the filled
  quantity moves forward), ``Trade`` executions → :class:`~venues.model.Fill` (once per
  ``execId``). ``wallet`` frames keep the connection's view fresh but are not account events
  (balances are read with ``fetch_balances``); funding arrives through
  ``fetch_funding_payments``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from venues.base import AccountEvent
from venues.bybit import constants as c
from venues.bybit.book import TickerMerger, check_ws_ack, is_pong, parse_ws_orders
from venues.bybit.fields import as_object, int_field
from venues.bybit.parse import funding_from_ticker, mark_from_ticker
from venues.bybit.parse_exec import parse_ws_executions, spot_mark_from_ticker
from venues.bybit.rest import BybitRest
from venues.model import Fill, FundingRate, InstrumentId, InstrumentKind, MarkPrice, OrderAck
from venues.streams import merge
from venues.ws import Backoff, Message, StreamConfig, stream

SleepFn = Callable[[float], Awaitable[None]]
MarksFetcher = Callable[[Sequence[InstrumentId]], Awaitable[list[MarkPrice]]]
OrdersFetcher = Callable[[], Awaitable[list[OrderAck]]]
PRODUCTION_WS_BASE = "wss://stream.bybit.com"


@dataclass(frozen=True)
class StreamSettings:
    """Endpoints and timing of the Bybit streams.

    Attributes
    ----------
    linear_url, spot_url, private_url : str
        ``/v5/public/linear``, ``/v5/public/spot``, ``/v5/private`` websocket URLs.
    ping_interval_s : float
        Application ping period, s (Bybit advises 20).
    watchdog_s : float
        Silence after which a connection is re-opened, s (public tickers push every 100 ms;
        the private stream answers each ping, so this must exceed ``ping_interval_s``).
    backoff : Backoff
        Reconnect delays.
    auth_expires_after_ms : int
        How far in the future the auth ``expires`` is set, ms.
    open_timeout_s : float
        Handshake timeout, s.
    protocol_ping_interval_s : float | None
        Websocket-level pings by the library, s (``None`` disables).
    proxy : str | Literal[True] | None
        ``True`` uses the environment's proxy settings.
    """

    linear_url: str
    spot_url: str
    private_url: str
    ping_interval_s: float = c.WS_PING_INTERVAL_S
    watchdog_s: float = 30.0
    backoff: Backoff = field(default_factory=Backoff)
    auth_expires_after_ms: int = c.WS_AUTH_EXPIRES_AFTER_MS
    open_timeout_s: float = 10.0
    protocol_ping_interval_s: float | None = 20.0
    proxy: str | Literal[True] | None = True

    @classmethod
    def for_base(cls, base: str | None, **overrides: Any) -> StreamSettings:
        """Settings for a host (``wss://stream.bybit.com`` when ``None``) with the v5 paths."""
        root = (base or PRODUCTION_WS_BASE).rstrip("/")
        return cls(
            linear_url=f"{root}/v5/public/linear",
            spot_url=f"{root}/v5/public/spot",
            private_url=f"{root}/v5/private",
            **overrides,
        )


def _ping() -> Message:
    return {"req_id": "ping", "op": c.WS_OP_PING}


def subscribe_messages(topics: Sequence[str], max_args: int | None) -> list[Message]:
    """``subscribe`` ops for ``topics``, at most ``max_args`` per message (spot: 10)."""
    size = max_args or max(len(topics), 1)
    return [
        {"req_id": f"sub-{n}", "op": c.WS_OP_SUBSCRIBE, "args": list(topics[i : i + size])}
        for n, i in enumerate(range(0, len(topics), size))
    ]


class _MarkGate:
    """Lets a mark through only if newer than the last one of its instrument and different."""

    def __init__(self) -> None:
        self._last: dict[InstrumentId, MarkPrice] = {}

    def accept(self, mark: MarkPrice) -> bool:
        last = self._last.get(mark.instrument_id)
        if last is not None and (
            mark.ts_event_ms <= last.ts_event_ms
            or (mark.mark_price, mark.index_price) == (last.mark_price, last.index_price)
        ):
            return False
        self._last[mark.instrument_id] = mark
        return True


class _FundingGate:
    """Lets a predicted funding rate through only when its rate or settlement time changed,
    and never one settling before the last passed (per instrument)."""

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
    """Order updates that move forward (time or filled qty) and each fill once."""

    def __init__(self) -> None:
        self._orders: dict[str, tuple[int, Any]] = {}
        self._trades: set[str] = set()

    def accept(self, event: OrderAck | Fill) -> bool:
        if isinstance(event, Fill):
            if event.trade_id in self._trades:
                return False
            self._trades.add(event.trade_id)
            return True
        key = (event.ts_event_ms, event.filled_qty)
        last = self._orders.get(event.venue_order_id)
        if last is not None and (key[0] < last[0] or key == last):
            return False
        self._orders[event.venue_order_id] = key
        return True


class BybitStreams:
    """The Bybit websocket streams of one venue instance.

    Parameters
    ----------
    settings : StreamSettings
    sleep : Callable[[float], Awaitable[None]]
        Async sleep for reconnect backoff, s (tests inject a fake).
    """

    def __init__(self, settings: StreamSettings, *, sleep: SleepFn = asyncio.sleep) -> None:
        self.settings = settings
        self._sleep = sleep

    def _config(
        self, url: str, name: str, messages: Callable[[], Sequence[Message]]
    ) -> StreamConfig:
        s = self.settings
        return StreamConfig(
            url=url,
            subscribe_messages=messages,
            ping=(s.ping_interval_s, _ping),
            watchdog_s=s.watchdog_s,
            backoff=s.backoff,
            name=name,
            open_timeout_s=s.open_timeout_s,
            protocol_ping_interval_s=s.protocol_ping_interval_s,
            protocol_ping_timeout_s=s.protocol_ping_interval_s,
            proxy=s.proxy,
        )

    def marks(
        self, instrument_ids: Sequence[InstrumentId], resync: MarksFetcher
    ) -> AsyncIterator[MarkPrice]:
        """Mark prices of ``instrument_ids`` as they change (see the module docstring).

        ``resync`` fetches current marks over REST after a reconnect. Raises
        ``ProtocolError`` on a malformed frame or a refused subscription.
        """
        marks = self._marks(instrument_ids, resync, with_funding=False)
        return cast(AsyncIterator[MarkPrice], marks)  # without funding: marks only

    def market(
        self, instrument_ids: Sequence[InstrumentId], resync: MarksFetcher
    ) -> AsyncIterator[MarkPrice | FundingRate]:
        """:meth:`marks`, with each linear ticker's predicted funding (``fundingRate``
        settling at ``nextFundingTime``, interval ``fundingIntervalHour``) yielded after its
        mark whenever the rate or the settlement time changed (see the module docstring). A
        ticker state without those three fields yields its mark only."""
        return self._marks(instrument_ids, resync, with_funding=True)

    def _marks(
        self, instrument_ids: Sequence[InstrumentId], resync: MarksFetcher, *, with_funding: bool
    ) -> AsyncIterator[MarkPrice | FundingRate]:
        streams = [
            self._category_marks(
                kind, [i for i in instrument_ids if i.kind is kind], resync, with_funding
            )
            for kind in (InstrumentKind.PERP, InstrumentKind.SPOT)
            if any(i.kind is kind for i in instrument_ids)
        ]
        if len(streams) == 1:
            return streams[0]
        # Every source drained at once (no read-ahead bound), and no end of its own: with no
        # instrument the merged stream waits until closed, as Bybit's marks always did.
        return merge(streams, name="bybit.ws.marks", read_ahead=None, end_with_sources=False)

    async def _category_marks(
        self,
        kind: InstrumentKind,
        ids: Sequence[InstrumentId],
        resync: MarksFetcher,
        with_funding: bool = False,
    ) -> AsyncIterator[MarkPrice | FundingRate]:
        spot = kind is InstrumentKind.SPOT
        topics = [c.WS_TOPIC_TICKERS.format(symbol=s) for s in sorted({i.symbol for i in ids})]
        max_args = c.WS_SPOT_MAX_ARGS_PER_SUBSCRIBE if spot else None
        url = self.settings.spot_url if spot else self.settings.linear_url
        config = self._config(
            url, f"bybit.ws.marks.{kind.value}", lambda: subscribe_messages(topics, max_args)
        )
        merger, gate, wanted = TickerMerger(), _MarkGate(), set(ids)
        funding_gate = _FundingGate()
        pending: list[MarkPrice] = []

        async def on_reconnect() -> None:
            merger.reset()
            pending.extend(await resync(ids))

        async for frame in stream(config, on_reconnect=on_reconnect, sleep=self._sleep):
            updates = _frame_updates(frame, merger, spot, with_funding)
            batch, pending[:] = [*pending, *updates], []
            for update in batch:
                if update.instrument_id not in wanted:
                    continue
                if isinstance(update, FundingRate):
                    if funding_gate.accept(update):
                        yield update
                elif gate.accept(update):
                    yield update

    async def account(self, rest: BybitRest, resync: OrdersFetcher) -> AsyncIterator[AccountEvent]:
        """Order updates and fills of the account (see the module docstring).

        ``resync`` fetches open orders over REST after a reconnect.

        Raises
        ------
        AuthError
            Without credentials, or when the venue refuses the ``auth`` op.
        ProtocolError
            On a malformed frame or a refused subscription.
        """
        topics = [c.WS_TOPIC_ORDER, c.WS_TOPIC_EXECUTION, c.WS_TOPIC_WALLET]
        expires_after_ms = self.settings.auth_expires_after_ms
        rest.ws_auth_message(expires_after_ms)  # fail fast without credentials

        def messages() -> list[Message]:
            return [rest.ws_auth_message(expires_after_ms), *subscribe_messages(topics, None)]

        config = self._config(self.settings.private_url, "bybit.ws.account", messages)
        gate = _AccountGate()
        pending: list[AccountEvent] = []

        async def on_reconnect() -> None:
            pending.extend(await resync())

        async for frame in stream(config, on_reconnect=on_reconnect, sleep=self._sleep):
            events, pending[:] = [*pending, *_account_events(frame)], []
            for event in events:
                if isinstance(event, OrderAck | Fill) and not gate.accept(event):
                    continue
                yield event


def _control(frame: Mapping[str, Any]) -> bool:
    """Check op acks (auth/subscribe) and pongs; True when ``frame`` was one."""
    op = frame.get("op")
    if op is None:
        return False
    if op in (c.WS_OP_AUTH, c.WS_OP_SUBSCRIBE) and not is_pong(frame):
        check_ws_ack(frame, op)
    return True


_FUNDING_FIELDS = ("fundingRate", "nextFundingTime", "fundingIntervalHour")


def _frame_updates(
    message: object, merger: TickerMerger, spot: bool, with_funding: bool
) -> list[MarkPrice | FundingRate]:
    """A ``tickers`` frame → its mark (and, linear ``with_funding``, the predicted funding of
    the merged state when it has the funding fields); ``[]`` for control frames."""
    frame = as_object(message, "ws.frame")
    topic = frame.get("topic")
    if _control(frame) or not isinstance(topic, str) or not topic.startswith("tickers."):
        return []
    state = merger.apply(frame)
    ts_ms = int_field(frame, "ts", "ws.tickers")
    where = f"ws.tickers[{state['symbol']}]"
    if spot:
        return [spot_mark_from_ticker(state, where, ts_ms)]
    mark = mark_from_ticker(state, where, ts_ms)
    if not with_funding or any(state.get(k) in (None, "") for k in _FUNDING_FIELDS):
        return [mark]
    return [mark, funding_from_ticker(state, where)]


def _account_events(message: object) -> list[AccountEvent]:
    frame = as_object(message, "ws.frame")
    if _control(frame):
        return []
    topic = frame.get("topic")
    if topic == c.WS_TOPIC_ORDER:
        return list(parse_ws_orders(frame))
    if topic == c.WS_TOPIC_EXECUTION:
        return list(parse_ws_executions(frame))
    return []  # wallet, position ...
