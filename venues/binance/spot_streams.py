"""Binance spot market websocket: a mark price for spot from ``<symbol>@kline_1s``.

Spot has no mark price stream (web-socket-streams.md, below). The stand-in is the **last trade
price**: the close ``k.c`` of the running 1-second kline, pushed every second with its event time
``E`` (epoch ms). One connection to ``<ws base>/stream`` (combined frames ``{"stream", "data"}``)
carries every symbol; ``{"method": "SUBSCRIBE", "params": [...], "id": 1}`` is sent on each
(re)connect and answered ``{"result": null, "id": 1}``. The server pings every 20 s (the
``websockets`` library answers) and announces planned disconnects with ``serverShutdown``, which is
skipped here: the close that follows triggers the reconnect. Source: Binance spot
https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md ("General WSS
information", "Kline/Candlestick Streams"); fixtures ``ws_kline.json``,
``ws_subscribe_request.json``, ``ws_subscribe_response.json``, ``ws_server_shutdown.json``.

After every reconnect the last close of each symbol is resynced over REST (``GET
/api/v3/klines?interval=1s&limit=1``) and yielded before the new connection's frames. Per
instrument nothing is yielded whose timestamp is not strictly newer than the last one yielded.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing

from venues.binance import constants as c
from venues.binance.parse_spot import parse_ws_kline_mark
from venues.binance.streams import WsSettings, newest_per_instrument, subscribe_message
from venues.model import InstrumentId, MarkPrice
from venues.ws import SleepFn

SPOT_MARK_KLINE_INTERVAL = "1s"
"""Kline interval of the spot mark stream (updates every 1 s; web-socket-streams.md)."""

Resync = Callable[[], Awaitable[Sequence[MarkPrice]]]


def spot_kline_stream(symbol: str) -> str:
    """``btcusdt@kline_1s``: stream names are lower-case (web-socket-streams.md)."""
    return f"{symbol.lower()}@kline_{SPOT_MARK_KLINE_INTERVAL}"


def spot_stream_url(base_url: str = c.SPOT_WS_URL) -> str:
    """``wss://stream.binance.com:9443/stream``: combined frames, streams by SUBSCRIBE."""
    return f"{base_url}{c.WS_COMBINED_SUFFIX}"


async def spot_marks(
    instrument_ids: Sequence[InstrumentId],
    *,
    settings: WsSettings,
    resync: Resync,
    sleep: SleepFn,
) -> AsyncGenerator[MarkPrice, None]:
    """Yield spot marks (1 s kline close, quote units, stamped ``E`` ms) for as long as the
    caller iterates.

    Parameters
    ----------
    instrument_ids : Sequence[InstrumentId]
        Spot instruments (≤ 1024 per connection).
    settings : WsSettings
        ``base_url`` (spot host), watchdog (``mark_watchdog_s``), lifetime, backoff.
    resync : Callable[[], Awaitable[Sequence[MarkPrice]]]
        REST snapshot awaited after every reconnect.
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
        spot_stream_url(settings.base_url),
        "binance.ws.spot_marks",
        settings.mark_watchdog_s,
        lambda: [subscribe_message([spot_kline_stream(i.symbol) for i in instrument_ids])],
    )
    marks = newest_per_instrument(
        config,
        instrument_ids,
        parse=_kline_marks,
        mark_of=lambda mark: mark,
        resync=resync,
        sleep=sleep,
    )
    async with aclosing(marks) as updates:
        async for mark in updates:
            yield mark


def _kline_marks(frame: object) -> list[MarkPrice]:
    mark = parse_ws_kline_mark(frame)
    return [] if mark is None else [mark]
