"""Bybit v5 market history paged backwards: settled funding rates and klines.

Both endpoints answer the newest rows of the requested window first (Bybit v5 "Get Funding Rate
History" https://bybit-exchange.github.io/docs/v5/market/history-fund-rate:
``/v5/market/funding/history`` up to 200 rows up to ``endTime``; "Get Kline"
https://bybit-exchange.github.io/docs/v5/market/kline: ``/v5/market/kline`` up to 1000 rows,
**newest first**), so the window's end moves back to one ms before the oldest row of each full page.
Rows are keyed by time, so an overlap can never yield a duplicate.
"""

from __future__ import annotations

from venues.bybit import constants as c
from venues.bybit.orders import category_of
from venues.bybit.parse import parse_funding_history, parse_klines
from venues.bybit.rest import BybitRest
from venues.model import Bar, FundingRate, InstrumentId

CODES_BY_INTERVAL_S = {seconds: code for code, seconds in c.KLINE_INTERVALS_S.items()}


async def funding_history(
    rest: BybitRest, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
) -> list[FundingRate]:
    """Settled rates with ``start_ms <= ts_funding_ms < end_ms`` (epoch ms), oldest first,
    each with ``interval_s`` (the history does not carry the interval). Fixture
    ``funding_history.json``."""
    limit = c.FUNDING_HISTORY_LIMIT
    rates: dict[int, FundingRate] = {}
    cursor_ms = end_ms - 1
    while cursor_ms >= start_ms:
        payload = await rest.get_funding_history(instrument_id.symbol, cursor_ms, start_ms, limit)
        page = parse_funding_history(payload, interval_s)
        rates.update((r.ts_funding_ms, r) for r in page if start_ms <= r.ts_funding_ms)
        if len(page) < limit:
            break
        cursor_ms = page[0].ts_funding_ms - 1
    return [rates[ts] for ts in sorted(rates) if ts < end_ms]


async def bars(
    rest: BybitRest, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
) -> list[Bar]:
    """Klines with ``start_ms <= ts_open_ms < end_ms`` (epoch ms), oldest first. Raises
    ``ValueError`` for an interval Bybit does not offer. Fixture ``kline.json``."""
    code = CODES_BY_INTERVAL_S.get(interval_s)
    if code is None:
        raise ValueError(f"bybit: no kline interval of {interval_s} s")
    category, limit = category_of(instrument_id), c.KLINE_LIMIT
    by_ts: dict[int, Bar] = {}
    cursor_ms = end_ms - 1
    while cursor_ms >= start_ms:
        payload = await rest.get_kline(
            category, instrument_id.symbol, code, start_ms, cursor_ms, limit
        )
        page = parse_klines(payload, instrument_id, code)
        by_ts.update((b.ts_open_ms, b) for b in page if start_ms <= b.ts_open_ms < end_ms)
        if len(page) < limit:
            break
        cursor_ms = page[0].ts_open_ms - 1
    return [by_ts[ts] for ts in sorted(by_ts)]
