"""Paged OKX history reads: settled funding rates, candles and funding bills.

OKX pages backwards: each endpoint returns the newest rows first and takes ``after`` (a
``fundingTime``, a bar ``ts`` or a ``billId``) to return older ones. These functions walk the pages
from ``end_ms`` back to ``start_ms`` and return rows oldest first, each row once. Source: OKX API v5
"Get funding rate history"
https://www.okx.com/docs-v5/en/#public-data-rest-api-get-funding-rate-history, "Get candlesticks"
https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-candlesticks (and its history
endpoint https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-candlesticks-history),
"Get bills details (last 7 days)"
https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-bills-details-last-7-days.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from venues.errors import VenueError
from venues.model import Bar, FundingRate, InstrumentId
from venues.okx import constants as c
from venues.okx.fields import data_rows, digits_field, payload_error, str_field
from venues.okx.parse import parse_candles, parse_funding_rate_history
from venues.okx.rest import OkxRest

_MS_PER_S = 1_000
MAX_PAGES = 10_000
"""Guard against a venue that keeps answering the same page, pages."""


def _envelope(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    return {"code": c.CODE_OK, "msg": "", "data": rows}


async def funding_history(
    rest: OkxRest,
    instrument_id: InstrumentId,
    start_ms: int,
    end_ms: int,
    fallback_interval_s: int | None,
) -> list[FundingRate]:
    """Settled rates with ``start_ms <= fundingTime < end_ms`` (epoch ms), oldest first.

    Pages ``GET /api/v5/public/funding-rate-history`` by 400 with ``after`` = the oldest
    ``fundingTime`` seen; intervals are the gaps between consecutive settlements (see
    :func:`~venues.okx.parse.parse_funding_rate_history`; ``fallback_interval_s`` when one row
    only).

    Raises
    ------
    ProtocolError
        Malformed page, or a single row and no ``fallback_interval_s``.
    """
    rows: dict[int, Mapping[str, Any]] = {}
    after_ms = end_ms
    for _ in range(MAX_PAGES):
        payload = await rest.get_funding_rate_history(
            instrument_id.symbol, after_ms=after_ms, limit=c.FUNDING_HISTORY_MAX_LIMIT
        )
        page = data_rows(payload)
        times = [digits_field(row, "fundingTime") for row in page]
        rows.update((ts, row) for ts, row in zip(times, page, strict=True) if ts < after_ms)
        if len(page) < c.FUNDING_HISTORY_MAX_LIMIT or not times or min(times) >= after_ms:
            break
        after_ms = min(times)
        if after_ms <= start_ms:
            break
    ordered = [rows[ts] for ts in sorted(rows)]
    rates = parse_funding_rate_history(_envelope(ordered), fallback_interval_s)
    for rate in rates:
        if rate.instrument_id != instrument_id:
            raise payload_error(
                f"funding history of {instrument_id} has a row of {rate.instrument_id}"
            )
    return [r for r in rates if start_ms <= r.ts_funding_ms < end_ms]


async def bars(
    rest: OkxRest, instrument_id: InstrumentId, start_ms: int, end_ms: int, interval_s: int
) -> list[Bar]:
    """Closed candles with ``start_ms <= ts_open_ms < end_ms`` (epoch ms), oldest first.

    Pages ``GET /api/v5/market/history-candles`` by 100 with ``after`` = the oldest ``ts``
    seen; bars still forming (``confirm == "0"``) are dropped.

    Raises
    ------
    VenueError
        For an interval OKX does not offer (see ``CANDLE_BAR_BY_INTERVAL_S``).
    ProtocolError
        Malformed row.
    """
    bar_code = c.CANDLE_BAR_BY_INTERVAL_S.get(interval_s)
    if bar_code is None:
        raise VenueError(f"okx: no candle interval of {interval_s} s", venue=c.VENUE)
    found: dict[int, Bar] = {}
    after_ms = end_ms
    limit = c.HISTORY_CANDLES_MAX_LIMIT
    for _ in range(MAX_PAGES):
        payload = await rest.get_history_candles(instrument_id.symbol, bar_code, after_ms, limit)
        data = payload.get("data") if isinstance(payload, Mapping) else None
        page_len = len(data) if isinstance(data, list) else 0
        page = parse_candles(payload, instrument_id, interval_s, closed_only=False)
        closed = parse_candles(payload, instrument_id, interval_s)
        found.update((b.ts_open_ms, b) for b in closed if start_ms <= b.ts_open_ms < end_ms)
        oldest_ms = min((b.ts_open_ms for b in page), default=after_ms)
        if page_len < limit or oldest_ms >= after_ms or oldest_ms <= start_ms:
            break
        after_ms = oldest_ms
    return [found[ts] for ts in sorted(found)]


async def funding_bills(rest: OkxRest, since_ms: int, now_ms: int) -> list[Mapping[str, Any]]:
    """Funding-fee bills (``type=8``) booked at or after ``since_ms`` (epoch ms), oldest
    first, each ``billId`` once.

    Reads ``/api/v5/account/bills`` when ``since_ms`` is within its 7 days, else
    ``bills-archive`` (3 months); pages by 100 with ``after`` = the last ``billId``.

    Raises
    ------
    ProtocolError
        Malformed page.
    """
    archive = since_ms < now_ms - c.BILLS_RECENT_WINDOW_MS
    by_id: dict[str, Mapping[str, Any]] = {}
    after: str | None = None
    for _ in range(MAX_PAGES):
        page = data_rows(
            await rest.get_bills(begin_ms=since_ms, after_bill_id=after, archive=archive)
        )
        new = [row for row in page if str_field(row, "billId") not in by_id]
        by_id.update((str_field(row, "billId"), row) for row in new)
        if len(page) < c.BILLS_MAX_LIMIT or not new:
            break
        after = str_field(page[-1], "billId")
    rows = [row for row in by_id.values() if digits_field(row, "ts") >= since_ms]
    return sorted(rows, key=lambda row: (digits_field(row, "ts"), str_field(row, "billId")))
