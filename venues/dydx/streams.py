"""dYdX v4 Indexer websocket: oracle prices of the ``v4_markets`` channel as mark prices.

Protocol (dYdX Indexer websocket documentation
https://github.com/dydxprotocol/v4-chain/blob/main/indexer/services/comlink/public/websocket-documentation.md):
connect → ``connected`` → send ``{"type":"subscribe","channel":"v4_markets","batched":false}`` →
``subscribed`` whose ``contents.markets`` is the full market map (the snapshot) → ``channel_data``
frames whose ``contents.oraclePrices`` maps ticker → ``{oraclePrice, effectiveAt,
effectiveAtHeight}`` and ``contents.trading`` carries changed trading fields (ignored here: no price
in them). ``channel_batch_data`` (batched subscriptions) carries an array of such ``contents``.

Heartbeat: the server pings every 30 s and closes a connection that does not pong within 10 s;
the ``websockets`` library answers pings itself and sends its own ping frames
(:data:`~venues.dydx.constants.PROTOCOL_PING_INTERVAL_S`). No JSON ping is sent (the server
never answers one).

Reconnects go through :func:`venues.ws.stream` (backoff that resets after data, watchdog,
resubscribe). After a reconnect the market map is fetched over REST (``GET
/v4/perpetualMarkets``) and its oracle prices are yielded first; the new ``subscribed``
snapshot follows. An ``error`` frame (e.g. ``Internal error, could not fetch data for
subscription``) restarts the connection after a backoff delay; an error naming a bad
subscription is a :class:`~venues.errors.ProtocolError` (raised).

Ordering: snapshot prices carry no time, so they are stamped with the local receive time
(``now_ms``); oracle updates carry ``effectiveAt``. :class:`MarkDeduper` yields per instrument
only strictly newer stamps, and a snapshot only when its price differs from the last one
yielded — so the consumer never sees a duplicate or an older update. An oracle update stamped
before a snapshot's receive time is dropped (the next one, within seconds, gets through).
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Mapping,
)
from contextlib import aclosing
from typing import Any

import structlog

from venues.dydx import constants as c
from venues.dydx.fields import as_array, as_object, iso_ms_field, positive_float_field
from venues.dydx.parse import markets_map, oracle_mark, perp_id
from venues.errors import ProtocolError, VenueUnavailable
from venues.model import InstrumentId, MarkPrice
from venues.ws import StreamConfig, stream

log = structlog.get_logger("zerobeta.venues.dydx.streams")

SleepFn = Callable[[float], Awaitable[None]]
NowMs = Callable[[], int]

SUBSCRIBE_MARKETS: dict[str, Any] = {
    "type": "subscribe",
    "channel": c.MARKETS_CHANNEL,
    "batched": False,
}
"""The ``v4_markets`` subscription (fixture ``ws_subscribe_requests.json``; it takes no id)."""


def markets_stream_config(url: str = c.WS_URL, **overrides: Any) -> StreamConfig:
    """:class:`StreamConfig` for ``v4_markets`` (watchdog, heartbeat: module docstring);
    ``overrides`` replace any field (tests: ``proxy=None``, a short ``watchdog_s``, a fast
    ``backoff``)."""
    settings: dict[str, Any] = {
        "url": url,
        "subscribe_messages": lambda: [SUBSCRIBE_MARKETS],
        "ping": None,
        "watchdog_s": c.WATCHDOG_S,
        "name": "dydx.ws.marks",
        "protocol_ping_interval_s": c.PROTOCOL_PING_INTERVAL_S,
        "protocol_ping_timeout_s": c.PROTOCOL_PING_TIMEOUT_S,
    }
    settings.update(overrides)
    return StreamConfig(**settings)


class MarkDeduper:
    """Per-instrument gate: never a duplicate, never older than what was already yielded."""

    def __init__(self) -> None:
        self._last: dict[InstrumentId, MarkPrice] = {}

    def accept(self, mark: MarkPrice, *, snapshot: bool) -> bool:
        """Whether ``mark`` may be yielded (and remember it if so).

        An update needs a later ``ts_event_ms`` than the last yielded mark of its instrument;
        a snapshot row (stamped at receive time) also needs a different price.
        """
        last = self._last.get(mark.instrument_id)
        if last is not None:
            if mark.ts_event_ms <= last.ts_event_ms:
                return False
            if snapshot and mark.mark_price == last.mark_price:
                return False
        self._last[mark.instrument_id] = mark
        return True


def snapshot_marks(
    markets: Mapping[str, Any], tickers: Collection[str], ts_event_ms: int
) -> list[MarkPrice]:
    """Oracle prices of ``tickers`` in a market map (REST body's or ``subscribed`` snapshot's
    ``markets``), stamped ``ts_event_ms``; tickers the map lacks are skipped."""
    return [oracle_mark(markets[t], t, ts_event_ms) for t in tickers if t in markets]


def oracle_updates(contents: Mapping[str, Any], tickers: Collection[str]) -> list[MarkPrice]:
    """``contents.oraclePrices`` of a ``channel_data`` frame → marks of ``tickers`` stamped
    ``effectiveAt``. Fixture ``ws_markets_channel_data_oracle.json``."""
    raw = contents.get("oraclePrices")
    if raw is None:
        return []
    prices = as_object(raw, "v4_markets.oraclePrices")
    out = []
    for ticker in tickers:
        if ticker in prices:
            where = f"v4_markets.oraclePrices[{ticker}]"
            row = as_object(prices[ticker], where)
            ts_ms = iso_ms_field(row, "effectiveAt", where)
            out.append(
                MarkPrice(perp_id(ticker), positive_float_field(row, "oraclePrice", where), ts_ms)
            )
    return out


def error_from_frame(frame: Mapping[str, Any]) -> VenueUnavailable | ProtocolError:
    """An ``error`` frame → :class:`VenueUnavailable` for the server's internal failures
    (reconnect), :class:`ProtocolError` for anything naming our request as wrong (fixture
    ``errors.json``: ``ws_error_fetch_failed``, ``ws_error_invalid_id``)."""
    message = str(frame.get("message", "no message"))
    text = f"dydx websocket error: {message}"
    if message.startswith("Internal error"):
        return VenueUnavailable(text, venue=c.VENUE, code="ws error")
    return ProtocolError(text, venue=c.VENUE, code="ws error")


def frame_marks(
    frame: object, tickers: Collection[str], now_ms: int
) -> list[tuple[MarkPrice, bool]]:
    """Marks in one ``v4_markets`` frame as ``(mark, is_snapshot)``, in frame order.

    Raises
    ------
    VenueUnavailable, ProtocolError
        For an ``error`` frame (see :func:`error_from_frame`) or a malformed frame.
    """
    raw = as_object(frame, "v4_markets frame")
    kind = raw.get("type")
    if kind == "error":
        raise error_from_frame(raw)
    if raw.get("channel") != c.MARKETS_CHANNEL:
        return []  # connected, unsubscribed and other channels carry no marks
    contents = raw.get("contents")
    if kind == "subscribed":
        markets = markets_map(contents, "v4_markets.subscribed")
        return [(m, True) for m in snapshot_marks(markets, tickers, now_ms)]
    if kind == "channel_data":
        return [(m, False) for m in oracle_updates(as_object(contents, "contents"), tickers)]
    if kind == "channel_batch_data":
        batch = as_array(contents, "v4_markets.channel_batch_data.contents")
        return [
            (m, False) for item in batch for m in oracle_updates(as_object(item, "item"), tickers)
        ]
    return []


async def stream_oracle_marks(
    config: StreamConfig,
    instrument_ids: Collection[InstrumentId],
    *,
    fetch_markets: Callable[[], Awaitable[Any]],
    now_ms: NowMs,
    sleep: SleepFn,
) -> AsyncIterator[MarkPrice]:
    """Yield oracle prices of ``instrument_ids`` from ``v4_markets`` forever (see module doc).

    Parameters
    ----------
    config : StreamConfig
        From :func:`markets_stream_config`.
    instrument_ids : Collection[InstrumentId]
        dYdX perps (symbol = ticker).
    fetch_markets : Callable[[], Awaitable[Any]]
        ``GET /v4/perpetualMarkets`` (the REST resync after a reconnect).
    now_ms : Callable[[], int]
        Wall clock, epoch ms UTC, stamping snapshot rows.
    sleep : Callable[[float], Awaitable[None]]
        Async sleep for backoff, seconds.

    Raises
    ------
    ProtocolError
        A malformed frame or an error frame naming a bad subscription.
    """
    tickers = tuple(dict.fromkeys(i.symbol for i in instrument_ids))
    dedupe = MarkDeduper()
    pending: list[MarkPrice] = []

    async def resync() -> None:
        markets = markets_map(await fetch_markets())
        pending.extend(snapshot_marks(markets, tickers, now_ms()))

    delays = config.backoff.delays()
    yielded = False
    while True:
        try:
            frames_gen = stream(config, on_reconnect=resync, sleep=sleep)
            async with aclosing(frames_gen) as frames:
                async for frame in frames:
                    marks = [(m, True) for m in pending]
                    pending.clear()
                    marks.extend(frame_marks(frame, tickers, now_ms()))
                    for mark, snapshot in marks:
                        if dedupe.accept(mark, snapshot=snapshot):
                            yielded = True
                            yield mark
        except VenueUnavailable as e:
            if yielded:  # the backoff starts over after a connection that delivered data
                delays, yielded = config.backoff.delays(), False
            delay_s = next(delays)
            log.warning("ws_error_frame_received", stream=config.name, error=str(e))
            await sleep(delay_s)
