"""OKX v5 payloads → ``venues.model`` value types. Units and time are converted here only.

Conventions of the raw payloads (OKX API v5 "Overview" → "General Info"
https://www.okx.com/docs-v5/en/#overview-general-info, and "Get instruments"
https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments for ``ctVal``/``ctMult``):
envelope ``{"code": "0", "msg": "", "data": [...]}`` with ``code`` a string; numbers and epoch-ms
timestamps are strings; **SWAP sizes count contracts** and are converted to base units here (base
qty = contracts × ``ctVal`` × ``ctMult``); SPOT sizes are already base units. Functions that see
SWAP sizes take ``contract_multipliers``: base units per contract keyed by ``instId``
(``Instrument.contract_multiplier``, see :func:`contract_multipliers`).

Every malformed payload raises :class:`venues.errors.ProtocolError` naming the field; a
non-zero ``code`` raises the error built by :func:`error_from_payload`. Only ``SWAP`` (linear)
and ``SPOT`` are supported: other ``instType`` values raise ``ProtocolError``, except in
:func:`parse_instruments` which skips them. Fixtures: ``tests/fixtures/okx-v5/``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from decimal import Decimal

from venues.model import (
    Bar,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
    Quote,
)
from venues.okx import constants as c
from venues.okx.fields import (
    ZERO,
    Row,
    as_object,
    contract_multipliers,
    data_rows,
    dec_field,
    digits_field,
    float_field,
    instrument_id,
    opt_dec_field,
    payload_error,
    row_instrument_id,
    str_field,
    text_field,
)
from venues.okx.parse_account import (
    FUNDING_MATCH_TOLERANCE_MS as FUNDING_MATCH_TOLERANCE_MS,
)
from venues.okx.parse_account import (
    WriteResult,
    order_from_row,
    parse_balances,
    parse_batch_orders,
    parse_cancel_order,
    parse_funding_payments,
    parse_order,
    parse_place_order,
    parse_positions,
    parse_write_results,
)
from venues.okx.parse_errors import error_from_payload

__all__ = [
    "WriteResult",
    "contract_multipliers",
    "error_from_payload",
    "funding_interval_s",
    "instrument_id",
    "order_from_row",
    "parse_balances",
    "parse_batch_orders",
    "parse_cancel_order",
    "parse_candles",
    "parse_funding_payments",
    "parse_funding_rate_history",
    "parse_funding_rates",
    "parse_instruments",
    "parse_mark_prices",
    "parse_order",
    "parse_place_order",
    "parse_positions",
    "parse_tickers",
    "parse_write_results",
    "parse_ws_funding_rates",
    "parse_ws_mark_prices",
    "parse_ws_tickers",
]


# --- instruments -------------------------------------------------------------------------


def _multiplier(row: Row) -> Decimal:
    if str_field(row, "ctType") != "linear":
        raise payload_error(
            f"field 'ctType' is {row.get('ctType')!r}; only linear swaps are supported"
        )
    ct_mult = opt_dec_field(row, "ctMult")
    multiplier = dec_field(row, "ctVal") * (Decimal(1) if ct_mult is None else ct_mult)
    if multiplier <= 0:
        raise payload_error(
            f"fields 'ctVal' × 'ctMult' give a non-positive multiplier {multiplier}"
        )
    return multiplier


def _instrument(row: Row, funding_intervals_s: Mapping[str, int]) -> Instrument:
    iid = row_instrument_id(row)
    is_perp = iid.kind is InstrumentKind.PERP
    if is_perp:
        base, quote = text_field(row, "ctValCcy"), text_field(row, "settleCcy")
        step = _multiplier(row)
    else:
        base, quote, step = text_field(row, "baseCcy"), text_field(row, "quoteCcy"), Decimal(1)
    return Instrument(
        id=iid,
        base=base,
        quote=quote,
        tick_size=dec_field(row, "tickSz"),
        lot_step=dec_field(row, "lotSz") * step,
        min_qty=dec_field(row, "minSz") * step,
        min_notional_usd=ZERO,  # OKX has no minimum notional, only minSz
        contract_multiplier=step,
        funding_interval_s=funding_intervals_s.get(iid.symbol) if is_perp else None,
    )


def parse_instruments(
    payload: object, funding_intervals_s: Mapping[str, int] | None = None
) -> dict[InstrumentId, Instrument]:
    """Instruments from ``GET /api/v5/public/instruments?instType=SWAP|SPOT``.

    Sizes are converted from contracts: ``lot_step = lotSz × ctVal × ctMult`` and
    ``min_qty = minSz × ctVal × ctMult`` base units (SPOT: as given). Inverse swaps and
    instrument types other than SWAP/SPOT are skipped.

    Parameters
    ----------
    payload : object
        Decoded JSON. Fixtures ``instruments_swap_btc_eth.json`` (real recording),
        ``instruments_spot_btc_usdt.json``.
    funding_intervals_s : Mapping[str, int] | None
        ``instId`` → current funding interval, s (from :func:`funding_interval_s` on the
        funding-rate endpoint; this endpoint does not carry it). Perps missing here get
        ``funding_interval_s=None``.

    Raises
    ------
    ProtocolError
        Missing or malformed field; error envelope → the error of :func:`error_from_payload`.
    """
    intervals = funding_intervals_s or {}
    out: dict[InstrumentId, Instrument] = {}
    for row in data_rows(payload):
        inst_type = str_field(row, "instType")
        if inst_type == c.INST_TYPE_SWAP and row.get("ctType") != "linear":
            continue
        if inst_type in (c.INST_TYPE_SWAP, c.INST_TYPE_SPOT):
            instrument = _instrument(row, intervals)
            out[instrument.id] = instrument
    return out


# --- funding, marks, candles, tickers -----------------------------------------------------


def funding_interval_s(row: Row) -> int:
    """Funding interval, s: ``(nextFundingTime − fundingTime) / 1000`` (OKX may shorten 8 h).

    Raises
    ------
    ProtocolError
        If the times are missing or ``nextFundingTime`` is not after ``fundingTime``.
    """
    gap_ms = digits_field(row, "nextFundingTime") - digits_field(row, "fundingTime")
    if gap_ms <= 0 or gap_ms % 1000:
        raise payload_error(f"field 'nextFundingTime' gives funding interval {gap_ms} ms")
    return gap_ms // 1000


def _funding_rate(row: Row) -> FundingRate:
    return FundingRate(
        instrument_id=row_instrument_id(row),
        rate=float_field(row, "fundingRate"),
        interval_s=funding_interval_s(row),
        ts_funding_ms=digits_field(row, "fundingTime"),
        ts_next_funding_ms=digits_field(row, "nextFundingTime"),
    )


def parse_funding_rates(payload: object) -> list[FundingRate]:
    """Upcoming funding from ``GET /api/v5/public/funding-rate`` (``instId=ANY`` for all).

    ``fundingRate`` applies at ``fundingTime`` (the upcoming settlement); ``nextFundingTime``
    is the one after; the interval is their difference. Fixture
    ``funding_rate_btc_usdt_swap.json``.

    Raises
    ------
    ProtocolError
        Missing or malformed field.
    """
    return [_funding_rate(row) for row in data_rows(payload)]


def parse_funding_rate_history(
    payload: object, fallback_interval_s: int | None = None
) -> list[FundingRate]:
    """Settled funding from ``GET /api/v5/public/funding-rate-history``, oldest first.

    ``rate`` is ``realizedRate`` (what was charged). Rows carry no next time: for each row,
    ``ts_next_funding_ms`` is the next row's ``fundingTime`` and the interval their gap (the
    same definition as the live endpoint); the newest row reuses the previous gap. Fixture
    ``funding_rate_history.json``.

    Parameters
    ----------
    fallback_interval_s : int | None
        Interval, s, used when the page has a single row.

    Raises
    ------
    ProtocolError
        Malformed field, rows of several instruments or duplicate times, or one row and no
        ``fallback_interval_s``.
    """
    rows = sorted(data_rows(payload), key=lambda row: digits_field(row, "fundingTime"))
    times = [digits_field(row, "fundingTime") for row in rows]
    if len({str_field(row, "instId") for row in rows}) > 1 or len(set(times)) != len(times):
        raise payload_error("funding history rows mix instruments or repeat 'fundingTime'")
    gaps_ms = [b - a for a, b in itertools.pairwise(times)]
    if gaps_ms:
        gaps_ms.append(gaps_ms[-1])
    elif rows:
        if fallback_interval_s is None:
            raise payload_error(
                "one funding history row: interval unknown without fallback_interval_s"
            )
        gaps_ms = [fallback_interval_s * 1000]
    return [
        FundingRate(
            instrument_id=row_instrument_id(row),
            rate=float_field(row, "realizedRate"),
            interval_s=gap_ms // 1000,
            ts_funding_ms=ts_ms,
            ts_next_funding_ms=ts_ms + gap_ms,
        )
        for row, ts_ms, gap_ms in zip(rows, times, gaps_ms, strict=True)
    ]


def _mark_price(row: Row) -> MarkPrice:
    return MarkPrice(
        instrument_id=row_instrument_id(row),
        mark_price=float_field(row, "markPx"),
        ts_event_ms=digits_field(row, "ts"),
    )


def parse_mark_prices(payload: object) -> list[MarkPrice]:
    """Mark prices from ``GET /api/v5/public/mark-price``. Fixture ``mark_price.json``.

    Raises
    ------
    ProtocolError
        Missing or malformed field.
    """
    return [_mark_price(row) for row in data_rows(payload)]


def _quote(row: Row) -> Quote:
    return Quote(
        instrument_id=row_instrument_id(row),
        bid=float_field(row, "bidPx"),
        ask=float_field(row, "askPx"),
        ts_event_ms=digits_field(row, "ts"),
    )


def parse_tickers(payload: object) -> list[Quote]:
    """Best bid/ask from ``GET /api/v5/market/ticker(s)``. Fixture ``ticker.json``.

    Raises
    ------
    ProtocolError
        Missing or malformed field (an empty book side gives ``""`` and raises).
    """
    return [_quote(row) for row in data_rows(payload)]


def _candle(row: object, iid: InstrumentId, interval_ms: int, volume_index: int | None) -> Bar:
    min_len = 6 if volume_index is None else 9
    if not isinstance(row, list) or len(row) < min_len or not all(isinstance(x, str) for x in row):
        raise payload_error(f"candle row {row!r} is not an array of at least {min_len} strings")
    named = dict(zip(("ts", "o", "h", "l", "c"), row, strict=False))
    volume = 0.0
    if volume_index is not None:
        named["vol"] = row[volume_index]
        volume = float_field(named, "vol")
    ts_ms = digits_field(named, "ts")
    o, h, lo, cl = (float_field(named, key) for key in ("o", "h", "l", "c"))
    return Bar(iid, ts_ms, ts_ms + interval_ms, o, h, lo, cl, volume)


def parse_candles(
    payload: object,
    iid: InstrumentId,
    interval_s: int,
    *,
    closed_only: bool = True,
    mark_price: bool = False,
) -> list[Bar]:
    """Bars from ``GET /api/v5/market/candles`` (or ``mark-price-candles``), oldest first.

    Rows are ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]``; the order is not
    guaranteed, so rows are sorted by ``ts``. Volume in base units: ``volCcy`` for SWAP
    (``vol`` counts contracts), ``vol`` for SPOT; mark-price rows
    ``[ts, o, h, l, c, confirm]`` have volume 0. Fixtures ``candles.json``,
    ``mark_price_candles.json``.

    Parameters
    ----------
    iid : InstrumentId
        The requested instrument (rows do not name it).
    interval_s : int
        Bar length, s (``ts_close_ms = ts_open_ms + interval_s × 1000``).
    closed_only : bool
        Drop bars with ``confirm == "0"`` (still forming).
    mark_price : bool
        Rows are mark-price candles.

    Raises
    ------
    ProtocolError
        Malformed row.
    """
    envelope = as_object(payload, "payload")
    if envelope.get("code") != c.CODE_OK:
        raise error_from_payload(envelope, c.VENUE)
    data = envelope.get("data")
    if not isinstance(data, list):
        raise payload_error("field 'data' of candles is not an array")
    volume_index = None if mark_price else (6 if iid.kind is InstrumentKind.PERP else 5)
    bars = []
    for row in data:
        bar = _candle(row, iid, interval_s * 1000, volume_index)
        if not closed_only or row[-1] == "1":
            bars.append(bar)
    return sorted(bars, key=lambda bar: bar.ts_open_ms)


# --- WebSocket pushes --------------------------------------------------------------------


def _push_rows(message: object, channel: str) -> list[Row]:
    push = as_object(message, "push")
    arg = as_object(push.get("arg"), "field 'arg'")
    if arg.get("channel") != channel:
        raise payload_error(f"field 'arg.channel' is {arg.get('channel')!r}, expected {channel!r}")
    data = push.get("data")
    if not isinstance(data, list):
        raise payload_error("field 'data' of a push is not an array")
    return [as_object(item, f"data[{i}]") for i, item in enumerate(data)]


def parse_ws_mark_prices(message: object) -> list[MarkPrice]:
    """``mark-price`` channel push. Fixture ``ws_mark_price_push.json`` (a FUTURES sample).

    Raises
    ------
    ProtocolError
        Other channel, malformed field, unsupported ``instType``.
    """
    return [_mark_price(row) for row in _push_rows(message, c.CHANNEL_MARK_PRICE)]


def parse_ws_funding_rates(message: object) -> list[FundingRate]:
    """``funding-rate`` channel push (REST funding-rate fields). Fixture
    ``ws_funding_rate_push.json``.

    Raises
    ------
    ProtocolError
        Other channel or malformed field.
    """
    return [_funding_rate(row) for row in _push_rows(message, c.CHANNEL_FUNDING_RATE)]


def parse_ws_tickers(message: object) -> list[Quote]:
    """``tickers`` channel push → best bid/ask. Fixture ``ws_tickers_push.json``.

    Raises
    ------
    ProtocolError
        Other channel or malformed field.
    """
    return [_quote(row) for row in _push_rows(message, c.CHANNEL_TICKERS)]
