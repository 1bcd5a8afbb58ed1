"""Binance raw payloads → ``venues.model`` types. Units and times are converted here only.

Payload conventions (Binance USDⓈ-M "Common Definition"
https://developers.binance.com/docs/derivatives/usds-margined-futures/common-definition, spot
https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md "General API Information"):
prices and quantities are JSON strings (parsed to ``Decimal`` at the order boundary, ``float`` for
market data), times are integer epoch ms, quantities are base-asset units on both products (no
contract multiplier). Every parser raises :class:`~venues.errors.ProtocolError` naming the field
when a payload does not match; no ``KeyError``/``ValueError`` escapes.

Funding semantics (Binance USDⓈ-M "Mark Price"
https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Mark-Price):
in ``/fapi/v1/premiumIndex`` and the ``markPriceUpdate`` stream, ``lastFundingRate``/``r`` is the
continuously updated **estimate of the rate that settles at** ``nextFundingTime``/``T``; it is
therefore mapped to a predicted :class:`FundingRate` with ``ts_funding_ms = nextFundingTime``. In
``/fapi/v1/fundingRate`` each row is a **settled** rate at ``fundingTime`` with the mark price used
at settlement.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from venues.binance.constants import DEFAULT_FUNDING_INTERVAL_S
from venues.binance.fields import (
    STATUS_MAP,
    USD_ASSETS,
    as_array,
    as_object,
    dec_field,
    float_field,
    instrument_id,
    int_field,
    payload_error,
    raw_field,
    text_field,
    unwrap_stream,
)
from venues.binance.parse_account import (
    event_fee_assets,
    event_type,
    funding_fee_rows,
    parse_funding_fee,
    parse_futures_balances,
    parse_order,
    parse_order_event,
    parse_position_risk,
    parse_spot_balances,
)
from venues.binance.parse_errors import error_from_payload, is_error_payload
from venues.model import Bar, FundingRate, Instrument, InstrumentId, InstrumentKind, MarkPrice

__all__ = [
    "STATUS_MAP",
    "USD_ASSETS",
    "error_from_payload",
    "event_fee_assets",
    "event_type",
    "funding_fee_rows",
    "is_error_payload",
    "parse_exchange_info",
    "parse_funding_fee",
    "parse_funding_history",
    "parse_funding_info",
    "parse_futures_balances",
    "parse_instrument",
    "parse_klines",
    "parse_order",
    "parse_order_event",
    "parse_position_risk",
    "parse_premium_index",
    "parse_premium_index_list",
    "parse_spot_balances",
    "parse_ws_mark_price",
    "unwrap_stream",
]

_MS_PER_S = 1_000


# --- instruments -------------------------------------------------------------------------


def _filters(raw: Mapping[str, Any], where: str) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for item in as_array(raw_field(raw, "filters", where), f"{where}.filters"):
        entry = as_object(item, f"{where}.filters[]")
        found[text_field(entry, "filterType", f"{where}.filters[]")] = entry
    return found


def _filter(filters: Mapping[str, Mapping[str, Any]], name: str, where: str) -> Mapping[str, Any]:
    if name not in filters:
        raise payload_error(where, f"filter {name!r} missing")
    return filters[name]


def _min_notional(filters: Mapping[str, Mapping[str, Any]], where: str) -> Decimal:
    # fapi: MIN_NOTIONAL {notional}; spot: NOTIONAL {minNotional}, legacy MIN_NOTIONAL
    # {minNotional}. Sources: USD-M "Exchange Information" and spot filters.md (see
    # parse_instruments).
    for name in ("MIN_NOTIONAL", "NOTIONAL"):
        if name in filters:
            entry = filters[name]
            key = "notional" if "notional" in entry else "minNotional"
            return dec_field(entry, key, f"{where}.{name}")
    raise payload_error(where, "filter 'MIN_NOTIONAL'/'NOTIONAL' missing")


def _lot(filters: Mapping[str, Mapping[str, Any]], where: str) -> tuple[Decimal, Decimal]:
    """(lot_step, min_qty): LOT_SIZE, tightened by MARKET_LOT_SIZE where that is non-zero
    (spot reports zeros there), so one rule is valid for both limit and market orders."""
    lot = _filter(filters, "LOT_SIZE", where)
    step = dec_field(lot, "stepSize", f"{where}.LOT_SIZE")
    min_qty = dec_field(lot, "minQty", f"{where}.LOT_SIZE")
    if step <= 0:
        raise payload_error(f"{where}.LOT_SIZE", f"field 'stepSize' must be positive, got {step}")
    market = filters.get("MARKET_LOT_SIZE")
    if market is not None:
        m_where = f"{where}.MARKET_LOT_SIZE"
        step = max(step, dec_field(market, "stepSize", m_where))
        min_qty = max(min_qty, dec_field(market, "minQty", m_where))
    return step, min_qty


def parse_instrument(
    raw: object, kind: InstrumentKind, funding_interval_s: int | None = None
) -> Instrument:
    """One ``exchangeInfo.symbols[]`` entry → :class:`Instrument`.

    Parameters
    ----------
    raw : object
        Symbol entry of ``GET /fapi/v1/exchangeInfo`` or ``GET /api/v3/exchangeInfo``.
    kind : InstrumentKind
        PERP for fapi, SPOT for spot.
    funding_interval_s : int | None
        Funding interval, s, for a perp (default 8 h when ``None``); ignored for spot.

    Raises
    ------
    ProtocolError
        If a field or a required filter (PRICE_FILTER, LOT_SIZE, MIN_NOTIONAL/NOTIONAL) is
        missing or malformed.

    Source: Binance USDⓈ-M "Exchange Information"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information;
    spot https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md "Exchange
    information" and https://github.com/binance/binance-spot-api-docs/blob/master/filters.md;
    fixtures ``exchange_info_btc_eth.json`` of both products.
    """
    entry = as_object(raw, "exchangeInfo.symbols[]")
    symbol = text_field(entry, "symbol", "exchangeInfo.symbols[]")
    where = f"exchangeInfo[{symbol}]"
    filters = _filters(entry, where)
    tick = dec_field(_filter(filters, "PRICE_FILTER", where), "tickSize", f"{where}.PRICE_FILTER")
    if tick <= 0:
        raise payload_error(
            f"{where}.PRICE_FILTER", f"field 'tickSize' must be positive, got {tick}"
        )
    step, min_qty = _lot(filters, where)
    is_perp = kind is InstrumentKind.PERP
    return Instrument(
        id=instrument_id(symbol, kind),
        base=text_field(entry, "baseAsset", where),
        quote=text_field(entry, "quoteAsset", where),
        tick_size=tick,
        lot_step=step,
        min_qty=min_qty,
        min_notional_usd=_min_notional(filters, where),
        funding_interval_s=(funding_interval_s or DEFAULT_FUNDING_INTERVAL_S) if is_perp else None,
    )


def _listed(entry: Mapping[str, Any], kind: InstrumentKind) -> bool:
    if entry.get("status") != "TRADING":
        return False
    return kind is InstrumentKind.SPOT or entry.get("contractType") == "PERPETUAL"


def parse_exchange_info(
    payload: object,
    kind: InstrumentKind,
    funding_intervals_s: Mapping[str, int] | None = None,
) -> list[Instrument]:
    """``exchangeInfo`` → instruments that are ``TRADING`` (and ``PERPETUAL`` for fapi).

    ``funding_intervals_s`` maps symbol → interval, s, from :func:`parse_funding_info`;
    symbols absent from it use the 8 h default. Raises ``ProtocolError`` as
    :func:`parse_instrument`.
    """
    body = as_object(payload, "exchangeInfo")
    intervals = funding_intervals_s or {}
    out = []
    for item in as_array(raw_field(body, "symbols", "exchangeInfo"), "exchangeInfo.symbols"):
        entry = as_object(item, "exchangeInfo.symbols[]")
        if _listed(entry, kind):
            symbol = text_field(entry, "symbol", "exchangeInfo.symbols[]")
            out.append(parse_instrument(entry, kind, intervals.get(symbol)))
    return out


def parse_funding_info(payload: object) -> dict[str, int]:
    """``GET /fapi/v1/fundingInfo`` → symbol → funding interval, s.

    Lists only symbols whose cap/floor/interval was adjusted; others are 8 h. Fixture
    ``funding_info.json``. Raises ``ProtocolError`` on a malformed row.
    """
    out: dict[str, int] = {}
    for item in as_array(payload, "fundingInfo"):
        row = as_object(item, "fundingInfo[]")
        hours = int_field(row, "fundingIntervalHours", "fundingInfo[]")
        if hours <= 0:
            raise payload_error(
                "fundingInfo[]", f"field 'fundingIntervalHours' not positive: {hours}"
            )
        out[text_field(row, "symbol", "fundingInfo[]")] = hours * 3_600
    return out


# --- funding and mark price ---------------------------------------------------------------


def _interval(intervals_s: Mapping[str, int] | None, symbol: str) -> int:
    return (intervals_s or {}).get(symbol, DEFAULT_FUNDING_INTERVAL_S)


def parse_premium_index(
    raw: object, funding_intervals_s: Mapping[str, int] | None = None
) -> tuple[FundingRate, MarkPrice]:
    """One ``GET /fapi/v1/premiumIndex`` object → (predicted funding, mark price).

    ``lastFundingRate`` is the estimate of the rate that settles at ``nextFundingTime``, so
    the :class:`FundingRate` has ``ts_funding_ms = nextFundingTime`` and
    ``ts_next_funding_ms = nextFundingTime + interval``; ``mark_price`` is ``None`` (not a
    settlement price). The mark is stamped with ``time`` (ms).

    Raises
    ------
    ProtocolError
        If a field is missing or malformed.

    Source: Binance USDⓈ-M "Mark Price"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Mark-Price;
    fixtures ``premium_index_btcusdt.json``, ``premium_index_all.json``.
    """
    row = as_object(raw, "premiumIndex")
    symbol = text_field(row, "symbol", "premiumIndex")
    where = f"premiumIndex[{symbol}]"
    iid = instrument_id(symbol, InstrumentKind.PERP)
    interval_s = _interval(funding_intervals_s, symbol)
    ts_funding_ms = int_field(row, "nextFundingTime", where)
    funding = FundingRate(
        instrument_id=iid,
        rate=float_field(row, "lastFundingRate", where),
        interval_s=interval_s,
        ts_funding_ms=ts_funding_ms,
        ts_next_funding_ms=ts_funding_ms + interval_s * _MS_PER_S,
    )
    mark = MarkPrice(
        instrument_id=iid,
        mark_price=float_field(row, "markPrice", where),
        ts_event_ms=int_field(row, "time", where),
        index_price=float_field(row, "indexPrice", where),
    )
    return funding, mark


def parse_premium_index_list(
    payload: object, funding_intervals_s: Mapping[str, int] | None = None
) -> list[tuple[FundingRate, MarkPrice]]:
    """``premiumIndex`` with or without ``symbol`` (object or array) → list of pairs.

    Delivery contracts (``BTCUSDT_250627``; no funding) in the all-symbols array are skipped.
    """
    rows = [payload] if isinstance(payload, Mapping) else as_array(payload, "premiumIndex")
    return [
        parse_premium_index(row, funding_intervals_s)
        for row in rows
        if not _is_delivery(row, "symbol")
    ]


def _is_delivery(row: object, key: str) -> bool:
    # Delivery symbols carry a ``_YYMMDD`` suffix; perps never contain "_".
    return isinstance(row, Mapping) and "_" in str(row.get(key, ""))


def _history_intervals_ms(times_ms: Sequence[int], default_ms: int) -> list[int]:
    """Interval of each settlement = time since the previous one; the first row takes the
    spacing to the second (or ``default_ms`` for a single row)."""
    if len(times_ms) < 2:
        return [default_ms] * len(times_ms)
    gaps = [b - a for a, b in itertools.pairwise(times_ms)]
    if min(gaps) <= 0:
        raise payload_error("fundingRate", "field 'fundingTime' is not strictly ascending")
    return [gaps[0], *gaps]


def parse_funding_history(
    payload: object, default_interval_s: int = DEFAULT_FUNDING_INTERVAL_S
) -> list[FundingRate]:
    """``GET /fapi/v1/fundingRate`` (ascending, one symbol) → settled funding rates.

    ``interval_s`` is the spacing of consecutive ``fundingTime`` values (the first row takes
    the spacing to the second; a single row takes ``default_interval_s``).
    ``ts_next_funding_ms`` is the next row's time, or time + interval for the last row.
    Caveat: a gap in the history (missing rows) shows up as a longer interval; query
    contiguous windows. ``mark_price`` is the settlement mark.

    Raises
    ------
    ProtocolError
        If a row is malformed, rows are not ascending or symbols are mixed.

    Source: Binance USDⓈ-M "Get Funding Rate History"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Get-Funding-Rate-History;
    fixture ``funding_rate_history.json``.
    """
    rows = [as_object(r, "fundingRate[]") for r in as_array(payload, "fundingRate")]
    symbols = {text_field(r, "symbol", "fundingRate[]") for r in rows}
    if len(symbols) > 1:
        raise payload_error("fundingRate", f"field 'symbol' mixes {sorted(symbols)}")
    times_ms = [int_field(r, "fundingTime", "fundingRate[]") for r in rows]
    intervals_ms = _history_intervals_ms(times_ms, default_interval_s * _MS_PER_S)
    next_ms = [*times_ms[1:], times_ms[-1] + intervals_ms[-1]] if rows else []
    return [
        FundingRate(
            instrument_id=instrument_id(row["symbol"], InstrumentKind.PERP),
            rate=float_field(row, "fundingRate", f"fundingRate[{ts_ms}]"),
            interval_s=interval_ms // _MS_PER_S,
            ts_funding_ms=ts_ms,
            ts_next_funding_ms=nxt_ms,
            mark_price=float_field(row, "markPrice", f"fundingRate[{ts_ms}]")
            if row.get("markPrice")
            else None,
        )
        for row, ts_ms, interval_ms, nxt_ms in zip(
            rows, times_ms, intervals_ms, next_ms, strict=True
        )
    ]


def parse_ws_mark_price(
    frame: object, funding_intervals_s: Mapping[str, int] | None = None
) -> list[tuple[MarkPrice, FundingRate]]:
    """``markPriceUpdate`` frame(s) → (mark, predicted funding) pairs.

    Accepts a raw ``<symbol>@markPrice[@1s]`` event, the ``!markPrice@arr`` array, or either
    inside a combined-stream envelope; delivery contracts (``_YYMMDD`` symbols) are skipped.
    ``p`` mark, ``i`` index, ``r`` the estimated rate settling at ``T`` (next funding time),
    ``E`` event time, all ms / quote units.

    Raises
    ------
    ProtocolError
        If the frame is not a ``markPriceUpdate`` or a field is malformed.

    Source: Binance USDⓈ-M "Mark Price Stream"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream;
    fixtures ``ws_mark_price_btcusdt.json``, ``ws_mark_price_all_market.json``,
    ``ws_mark_price_combined.json``.
    """
    data = unwrap_stream(frame)
    events = data if isinstance(data, list) else [data]
    return [_mark_event(e, funding_intervals_s) for e in events if not _is_delivery(e, "s")]


def _mark_event(
    raw: object, funding_intervals_s: Mapping[str, int] | None
) -> tuple[MarkPrice, FundingRate]:
    event = as_object(raw, "markPriceUpdate")
    if event.get("e") != "markPriceUpdate":
        raise payload_error(
            "markPriceUpdate", f"field 'e' is {event.get('e')!r}, not 'markPriceUpdate'"
        )
    symbol = text_field(event, "s", "markPriceUpdate")
    if ":" in symbol:  # no instrument id can hold it (InstrumentId would raise ValueError)
        raise payload_error("markPriceUpdate", f"field 's' is not a symbol: {symbol!r}")
    where = f"markPriceUpdate[{symbol}]"
    iid = instrument_id(symbol, InstrumentKind.PERP)
    interval_s = _interval(funding_intervals_s, symbol)
    ts_funding_ms = int_field(event, "T", where)
    mark = MarkPrice(
        instrument_id=iid,
        mark_price=float_field(event, "p", where),
        ts_event_ms=int_field(event, "E", where),
        index_price=float_field(event, "i", where),
    )
    funding = FundingRate(
        instrument_id=iid,
        rate=float_field(event, "r", where),
        interval_s=interval_s,
        ts_funding_ms=ts_funding_ms,
        ts_next_funding_ms=ts_funding_ms + interval_s * _MS_PER_S,
    )
    return mark, funding


# --- klines ------------------------------------------------------------------------------


def parse_klines(payload: object, instrument_id: InstrumentId) -> list[Bar]:
    """``GET /fapi/v1/klines`` or ``GET /api/v3/klines`` rows → bars.

    Row layout ``[openTime, open, high, low, close, volume, closeTime, ...]``. Binance's
    ``closeTime`` is the last ms inside the bar; :class:`Bar` is half-open, so
    ``ts_close_ms = closeTime + 1``. Volume in base units.

    Raises
    ------
    ProtocolError
        If a row is short or a column is malformed.

    Source: Binance USDⓈ-M "Kline/Candlestick Data"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Kline-Candlestick-Data,
    spot https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md "Kline/Candlestick
    data"; fixtures ``klines.json``.
    """
    return [_kline_row(row, instrument_id) for row in as_array(payload, "klines")]


def _kline_row(raw: object, instrument_id: InstrumentId) -> Bar:
    row = as_array(raw, "klines[]")
    if len(row) < 7:
        raise payload_error("klines[]", f"row has {len(row)} columns, expected ≥ 7")
    names = ("openTime", "open", "high", "low", "close", "volume", "closeTime")
    cols = dict(zip(names, row[:7], strict=True))
    where = f"klines[{cols['openTime']}]"
    return Bar(
        instrument_id=instrument_id,
        ts_open_ms=int_field(cols, "openTime", where),
        ts_close_ms=int_field(cols, "closeTime", where) + 1,
        open=float_field(cols, "open", where),
        high=float_field(cols, "high", where),
        low=float_field(cols, "low", where),
        close=float_field(cols, "close", where),
        volume=float_field(cols, "volume", where),
    )
