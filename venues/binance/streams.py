"""Binance USDⓈ-M market websocket: mark price + funding over the routed ``/market`` path.

One connection to ``<ws base>/market/stream`` (combined-stream frames ``{"stream":
"btcusdt@markPrice@1s", "data": {markPriceUpdate}}``) carries every requested symbol; the client
sends ``{"method": "SUBSCRIBE", "params": [...], "id": 1}`` on each (re)connect and the venue
answers ``{"result": null, "id": 1}``. Source: Binance USDⓈ-M "Websocket Market Streams" (routed
paths, limits)
https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams and
"Mark Price Stream"
https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream;
fixtures ``ws_mark_price_combined.json``, ``ws_subscribe_request.json``,
``ws_subscribe_response.json``.

Frames are decoded at the boundary by :func:`venues.binance.decode.decode_mark_frame` (msgspec,
typed; any frame it cannot vouch for goes through ``json.loads`` and
:func:`~venues.binance.parse.parse_ws_mark_price` as before).

Why a watchdog matters here: since 2026-04-23 the legacy unrouted ``/stream`` path accepts the
SUBSCRIBE and then stays silent for market streams, so a connection without a frame for
``mark_watchdog_s`` is treated as dead (:class:`venues.ws.StreamSilent`) and replaced.

Gaps and ordering: after every reconnect (drop, silence, or the proactive replacement before
Binance's 24 h cut, done without backoff) the marks are resynced over REST
(``GET /fapi/v1/premiumIndex``) and yielded before the first frame of the new connection (its
subscription answer arrives at once). Per instrument nothing is yielded whose timestamp is
not strictly newer than the last one yielded, so a consumer never sees a duplicate or an older
mark, whatever the server replays.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from venues.binance import constants as c
from venues.binance.decode import decode_mark_frame, mark_updates_of
from venues.errors import ProtocolError
from venues.model import FundingRate, InstrumentId, MarkPrice
from venues.ws import Backoff, Message, SleepFn, StreamConfig, default_is_fatal, stream

MarkUpdate = tuple[MarkPrice, FundingRate]
U = TypeVar("U")  # an update of a market stream (a MarkPrice, a MarkUpdate)
"""A mark price with the predicted funding rate it carried (``markPriceUpdate`` or
``premiumIndex``)."""

Resync = Callable[[], Awaitable[Sequence[MarkUpdate]]]


@dataclass(frozen=True)
class WsSettings:
    """Websocket settings of :class:`~venues.binance.client.BinanceUsdmVenue`.

    Parameters
    ----------
    base_url : str
        ``wss://fstream.binance.com`` (routes ``/market``, ``/private`` are appended).
    mark_watchdog_s : float
        Seconds without a frame after which a mark connection is replaced (1 s stream).
    user_watchdog_s : float
        Same for the user data stream (long: a quiet account legitimately sends nothing;
        websocket ping frames catch a dead TCP connection sooner).
    max_lifetime_s : float
        Seconds after which a healthy connection is replaced (Binance cuts at 24 h).
    listen_key_keepalive_s : float
        Seconds between ``PUT /fapi/v1/listenKey`` while events flow (key valid 60 min).
    backoff : Backoff
        Reconnect delays.
    open_timeout_s : float
        Seconds for TCP + TLS + websocket handshake.
    protocol_ping_interval_s : float | None
        Websocket ping frames sent by the library, seconds (Binance pings every 3 min and
        answers unsolicited pings; ``None`` disables).
    proxy : str | Literal[True] | None
        ``True`` uses the environment's proxy settings; ``None`` connects directly.
    """

    base_url: str = c.USDM_WS_URL
    mark_watchdog_s: float = c.MARK_STREAM_WATCHDOG_S
    user_watchdog_s: float = c.USER_STREAM_WATCHDOG_S
    max_lifetime_s: float = c.WS_CONNECTION_LIFETIME_S - 3_600.0
    listen_key_keepalive_s: float = float(c.LISTEN_KEY_KEEPALIVE_S)
    backoff: Backoff = field(default_factory=Backoff)
    open_timeout_s: float = 10.0
    protocol_ping_interval_s: float | None = 20.0
    proxy: str | Literal[True] | None = True

    def stream_config(
        self,
        url: str,
        name: str,
        watchdog_s: float,
        subscribe_messages: Callable[[], Sequence[Message]],
        is_fatal: Callable[[BaseException], bool] = default_is_fatal,
        decode: Callable[[str | bytes], Any] | None = None,
    ) -> StreamConfig:
        """:class:`StreamConfig` for one Binance connection with these settings (``decode``:
        a typed frame decoder instead of ``json.loads``)."""
        return StreamConfig(
            url=url,
            subscribe_messages=subscribe_messages,
            watchdog_s=watchdog_s,
            max_lifetime_s=self.max_lifetime_s,
            backoff=self.backoff,
            is_fatal=is_fatal,
            name=name,
            open_timeout_s=self.open_timeout_s,
            protocol_ping_interval_s=self.protocol_ping_interval_s,
            protocol_ping_timeout_s=self.protocol_ping_interval_s,
            proxy=self.proxy,
            decode=decode,
        )


def market_stream_url(base_url: str) -> str:
    """``<base>/market/stream``: combined-stream frames, streams added by SUBSCRIBE
    (mark price lives on the ``/market`` route, see the module docstring)."""
    return f"{base_url}{c.USDM_WS_MARKET_PATH}{c.WS_COMBINED_SUFFIX}"


def subscribe_message(streams: Sequence[str]) -> dict[str, Any]:
    """``{"method": "SUBSCRIBE", "params": streams, "id": 1}`` (fixture
    ``ws_subscribe_request.json``)."""
    return {"method": "SUBSCRIBE", "params": list(streams), "id": c.USDM_WS_SUBSCRIBE_ID}


def is_control_frame(frame: object) -> bool:
    """``True`` for a request answer (``{"result": null, "id": 1}``), ``False`` for data.

    Raises
    ------
    ProtocolError
        If the answer carries an ``error`` (``{"error": {"code", "msg"}, "id": 1}``): the
        subscription was refused, which retrying cannot fix.
    """
    if not isinstance(frame, Mapping) or "id" not in frame or "stream" in frame:
        return False
    if frame.get("error") is not None:
        raise ProtocolError(f"binance ws: request refused: {frame['error']!r}", venue=c.VENUE)
    return True


class LatestOnly:
    """Passes an update only if strictly newer (ms) than the last passed for its instrument."""

    def __init__(self) -> None:
        self._last_ms: dict[InstrumentId, int] = {}

    def accept(self, instrument_id: InstrumentId, ts_ms: int) -> bool:
        """Record and return ``True`` if ``ts_ms`` is newer than the last accepted one."""
        if ts_ms <= self._last_ms.get(instrument_id, -1):
            return False
        self._last_ms[instrument_id] = ts_ms
        return True


class FundingChanges:
    """Passes a predicted funding rate only when its rate or settlement time changed, and
    never one settling before the last passed (per instrument)."""

    def __init__(self) -> None:
        self._last: dict[InstrumentId, tuple[int, float]] = {}

    def accept(self, funding: FundingRate) -> bool:
        """Record and return ``True`` for a changed, not older, funding rate."""
        key = (funding.ts_funding_ms, funding.rate)
        last = self._last.get(funding.instrument_id)
        if last is not None and (key == last or key[0] < last[0]):
            return False
        self._last[funding.instrument_id] = key
        return True


async def mark_updates(
    instrument_ids: Sequence[InstrumentId],
    *,
    settings: WsSettings,
    funding_intervals_s: Mapping[str, int],
    resync: Resync,
    sleep: SleepFn,
) -> AsyncGenerator[MarkUpdate, None]:
    """Yield ``(mark, predicted funding)`` of ``instrument_ids`` from
    ``<symbol>@markPrice@1s`` for as long as the caller iterates.

    Parameters
    ----------
    instrument_ids : Sequence[InstrumentId]
        Perps to stream (≤ 1024 per connection).
    settings : WsSettings
        URL, watchdog, lifetime, backoff.
    funding_intervals_s : Mapping[str, int]
        Symbol → funding interval, s (``fundingInfo``; absent = 8 h).
    resync : Callable[[], Awaitable[Sequence[MarkUpdate]]]
        REST snapshot (``premiumIndex``) awaited after every reconnect.
    sleep : Callable[[float], Awaitable[None]]
        Backoff sleep, seconds.

    Raises
    ------
    ValueError
        If more than 1024 instruments are asked for.
    ProtocolError
        On a malformed frame or a refused subscription.
    """
    config = settings.stream_config(
        market_stream_url(settings.base_url),
        "binance.ws.marks",
        settings.mark_watchdog_s,
        lambda: [subscribe_message([c.mark_price_stream(i.symbol) for i in instrument_ids])],
        decode=lambda raw: decode_mark_frame(raw, funding_intervals_s),
    )
    updates = newest_per_instrument(
        config,
        instrument_ids,
        parse=lambda frame: mark_updates_of(frame, funding_intervals_s),
        mark_of=lambda update: update[0],
        resync=resync,
        sleep=sleep,
    )
    async with aclosing(updates) as pairs:
        async for pair in pairs:
            yield pair


async def newest_per_instrument(
    config: StreamConfig,
    instrument_ids: Sequence[InstrumentId],
    *,
    parse: Callable[[Any], Sequence[U]],
    mark_of: Callable[[U], MarkPrice],
    resync: Callable[[], Awaitable[Sequence[U]]],
    sleep: SleepFn,
) -> AsyncGenerator[U, None]:
    """The updates of one subscribed combined market stream, for as long as the caller
    iterates: after every reconnect the REST ``resync`` snapshot comes first, then the new
    connection's frames (``parse``: frame → updates; control frames skipped); per instrument
    only updates strictly newer (``mark_of(u).ts_event_ms``) than the last yielded pass, and
    only for ``instrument_ids``.

    Raises
    ------
    ValueError
        If more than 1024 instruments are asked for (one connection's stream limit).
    ProtocolError
        From ``parse`` on a malformed frame, or a refused subscription.
    """
    if len(instrument_ids) > c.WS_MAX_STREAMS_PER_CONNECTION:
        raise ValueError(f"at most {c.WS_MAX_STREAMS_PER_CONNECTION} streams per connection")
    wanted = set(instrument_ids)
    pending: list[U] = []

    async def on_reconnect() -> None:
        pending.extend(await resync())

    latest = LatestOnly()
    async with aclosing(stream(config, on_reconnect=on_reconnect, sleep=sleep)) as frames:
        async for frame in frames:
            batch = [*pending]
            pending.clear()
            if not is_control_frame(frame):
                batch.extend(parse(frame))
            for update in batch:
                mark = mark_of(update)
                if mark.instrument_id in wanted and latest.accept(
                    mark.instrument_id, mark.ts_event_ms
                ):
                    yield update
