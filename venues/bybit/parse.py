"""Bybit v5 REST payloads → ``venues.model`` value types (units and time converted here).

Every REST answer is an envelope ``{"retCode", "retMsg", "result", "retExtInfo", "time"}``;
``retCode != 0`` is an error even with HTTP 200 (:func:`unwrap_result`). Numbers are strings; linear
sizes are base coin. Malformed payloads raise :class:`~venues.errors.ProtocolError` naming the
field. Source: Bybit v5 API docs https://bybit-exchange.github.io/docs/v5 ("Integration Guidance"
https://bybit-exchange.github.io/docs/v5/guide for the envelope, each endpoint's page where it is
parsed); fixtures in ``tests/fixtures/bybit-v5/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from venues.bybit.constants import (
    AUTH_CODES,
    CATEGORY_LINEAR,
    CATEGORY_SPOT,
    CONTRACT_TYPE_LINEAR_PERPETUAL,
    DEFAULT_RETRY_AFTER_S,
    DUPLICATE_ORDER_LINK_ID_CODES,
    INSUFFICIENT_BALANCE_CODES,
    INVALID_ORDER_CODES,
    KLINE_INTERVALS_S,
    ORDER_NOT_FOUND_CODES,
    RATE_LIMIT_CODES,
    RET_OK,
    STATUS_TRADING,
    UNAVAILABLE_CODES,
    VENUE,
)
from venues.bybit.fields import (
    MS_PER_S,
    S_PER_MIN,
    Row,
    as_array,
    as_object,
    check_category,
    dec_field,
    float_field,
    instrument_id,
    int_field,
    payload_error,
    text_field,
)
from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from venues.model import (
    HOUR_S,
    Bar,
    FundingRate,
    Instrument,
    InstrumentId,
    MarkPrice,
    Quote,
)

# --- envelope and errors -------------------------------------------------------------------


def _rejection_class(code: int) -> type[OrderRejected] | None:
    if code in INSUFFICIENT_BALANCE_CODES:
        return InsufficientMargin
    if code in DUPLICATE_ORDER_LINK_ID_CODES:
        return DuplicateClientOrderId
    if code in INVALID_ORDER_CODES:
        return InvalidOrder
    return None


def _plain_class(code: int) -> type[VenueError]:
    if code in AUTH_CODES:
        return AuthError
    if code in UNAVAILABLE_CODES:
        return VenueUnavailable
    if code in ORDER_NOT_FOUND_CODES:
        return OrderNotFound
    return VenueError


def error_from_payload(
    payload: object,
    venue: str = VENUE,
    client_order_id: str | None = None,
    *,
    retry_after_s: float | None = None,
) -> VenueError:
    """Envelope with ``retCode != 0`` → the matching ``VenueError`` (returned, not raised).

    Mapping (constants' code sets; Bybit v5 "Error Codes"
    https://bybit-exchange.github.io/docs/v5/error): 10006 → :class:`RateLimited` (``retry_after_s``
    from ``X-Bapi-Limit-Reset-Timestamp`` computed by the caller, else 1 s); 10003/10004/10005/10010
    → :class:`AuthError`; 10016 → :class:`VenueUnavailable`; 110001/170213 → :class:`OrderNotFound`;
    with ``client_order_id``: insufficient balance → :class:`InsufficientMargin`, 110072/170141 →
    :class:`DuplicateClientOrderId`, parameter / qty / notional codes → :class:`InvalidOrder`. 10002
    (clock skew; caller checks ``CLOCK_SKEW_CODES``) and everything else → plain :class:`VenueError`
    with ``code``.

    Raises
    ------
    ProtocolError
        If the payload has no integer ``retCode`` or string ``retMsg``, or ``retCode`` is 0.

    Fixture: ``errors.json``, ``set_margin_mode_failed.json``.
    """
    body = as_object(payload, "error")
    code = int_field(body, "retCode", "error")
    msg = body.get("retMsg")
    if not isinstance(msg, str):
        raise payload_error("error", f"field 'retMsg' must be a string, got {msg!r}")
    if code == RET_OK:
        raise payload_error("error", "retCode is 0: not an error payload")
    text = f"bybit error {code}: {msg}"
    if code in RATE_LIMIT_CODES:
        wait_s = DEFAULT_RETRY_AFTER_S if retry_after_s is None else retry_after_s
        return RateLimited(text, venue=venue, retry_after_s=wait_s, code=str(code))
    rejection = _rejection_class(code)
    if rejection is not None and client_order_id is not None:
        return rejection(
            text, venue=venue, client_order_id=client_order_id, reason=msg, code=str(code)
        )
    return _plain_class(code)(text, venue=venue, code=str(code))


def retry_after_s_from_reset(reset_ts_ms: str | None, now_ms: int) -> float | None:
    """Seconds to wait from the ``X-Bapi-Limit-Reset-Timestamp`` header (epoch ms), or
    ``None`` when the header is absent or not an integer (the caller then uses the default).

    ``now_ms`` is the server-offset-corrected clock, epoch ms; the result is ``>= 0``.
    """
    if reset_ts_ms is None or not reset_ts_ms.isascii() or not reset_ts_ms.isdigit():
        return None
    return max(int(reset_ts_ms) - now_ms, 0) / MS_PER_S


def unwrap_result(
    payload: object,
    *,
    client_order_id: str | None = None,
    ok_codes: frozenset[int] = frozenset(),
) -> Row:
    """The ``result`` object of an envelope whose ``retCode`` is 0 (or in ``ok_codes``).

    Pass ``NOT_MODIFIED_CODES`` as ``ok_codes`` for set-leverage / switch-mode, where
    "not modified" means the wanted state already holds (``result`` is then ``{}``).

    Raises
    ------
    VenueError
        The subclass chosen by :func:`error_from_payload` when ``retCode`` is an error.
    ProtocolError
        If the envelope is malformed.
    """
    body = as_object(payload, "envelope")
    code = int_field(body, "retCode", "envelope")
    if code != RET_OK and code not in ok_codes:
        raise error_from_payload(body, VENUE, client_order_id)
    result = body.get("result")
    return {} if code != RET_OK and not result else as_object(result, "result")


def _time_ms(payload: object) -> int:
    return int_field(as_object(payload, "envelope"), "time", "envelope")


def _result_list(payload: object) -> Sequence[Any]:
    return as_array(unwrap_result(payload).get("list"), "result.list")


def next_page_cursor(payload: object) -> str | None:
    """``result.nextPageCursor`` of a paginated answer, URL-decoded; ``None`` when it is empty
    or absent.

    Bybit sends the cursor URL-encoded (``page_args%3D...%26symbol%3D6%26``, fixture
    ``order_realtime.json``) for the client to paste into the next query, which percent-encodes
    its values (:func:`venues.bybit.auth.query_string`): decoding it here makes it go back byte for
    byte as Bybit sent it, not encoded twice.
    """
    cursor = unwrap_result(payload).get("nextPageCursor")
    if cursor is not None and not isinstance(cursor, str):
        raise payload_error("result", f"field 'nextPageCursor' must be a string, got {cursor!r}")
    return unquote(cursor) if cursor else None


def parse_server_time_ms(payload: object) -> int:
    """``GET /v5/market/time`` → server time, epoch ms (from ``timeNano``).

    Fixture ``server_time.json``.
    """
    return int_field(unwrap_result(payload), "timeNano", "result") // 1_000_000


# --- instruments ---------------------------------------------------------------------------


def _linear_instrument(row: Row, where: str) -> Instrument:
    lot = as_object(row.get("lotSizeFilter"), f"{where}.lotSizeFilter")
    price = as_object(row.get("priceFilter"), f"{where}.priceFilter")
    interval_min = int_field(row, "fundingInterval", where)
    if interval_min <= 0:
        raise payload_error(
            where, f"field 'fundingInterval' must be positive minutes, got {interval_min}"
        )
    return Instrument(
        id=instrument_id(CATEGORY_LINEAR, text_field(row, "symbol", where)),
        base=text_field(row, "baseCoin", where),
        quote=text_field(row, "quoteCoin", where),
        tick_size=dec_field(price, "tickSize", f"{where}.priceFilter"),
        lot_step=dec_field(lot, "qtyStep", f"{where}.lotSizeFilter"),
        min_qty=dec_field(lot, "minOrderQty", f"{where}.lotSizeFilter"),
        min_notional_usd=dec_field(lot, "minNotionalValue", f"{where}.lotSizeFilter"),
        funding_interval_s=interval_min * S_PER_MIN,
    )


def _spot_instrument(row: Row, where: str) -> Instrument:
    # minOrderQty is deprecated and no longer checked: the base precision is the smallest
    # quantity, and the real floor is the quote amount minOrderAmt.
    lot = as_object(row.get("lotSizeFilter"), f"{where}.lotSizeFilter")
    price = as_object(row.get("priceFilter"), f"{where}.priceFilter")
    step = dec_field(lot, "basePrecision", f"{where}.lotSizeFilter")
    return Instrument(
        id=instrument_id(CATEGORY_SPOT, text_field(row, "symbol", where)),
        base=text_field(row, "baseCoin", where),
        quote=text_field(row, "quoteCoin", where),
        tick_size=dec_field(price, "tickSize", f"{where}.priceFilter"),
        lot_step=step,
        min_qty=step,
        min_notional_usd=dec_field(lot, "minOrderAmt", f"{where}.lotSizeFilter"),
    )


def _tradable(row: Row, category: str) -> bool:
    if row.get("status") != STATUS_TRADING:
        return False
    return category == CATEGORY_SPOT or row.get("contractType") == CONTRACT_TYPE_LINEAR_PERPETUAL


def parse_instruments(payload: object, category: str) -> tuple[list[Instrument], str | None]:
    """One page of ``GET /v5/market/instruments-info`` → (instruments, next cursor).

    Only ``status == "Trading"`` rows are kept, and for linear only ``LinearPerpetual``
    (dated futures share the category). Linear: tick ``priceFilter.tickSize``, lot step
    ``qtyStep``, ``minOrderQty``, ``minNotionalValue`` (USDT), ``fundingInterval`` minutes →
    seconds. Spot: lot step and minimum qty ``basePrecision``, minimum notional
    ``minOrderAmt`` (quote). Linear has > 500 symbols: call again with the returned cursor
    until it is ``None`` (spot does not paginate).

    Parameters
    ----------
    payload : object
        Decoded JSON envelope.
    category : str
        The ``category`` requested (``linear`` or ``spot``).

    Raises
    ------
    ProtocolError
        If the category is unsupported or a kept row is malformed.
    VenueError
        If ``retCode != 0``.

    Fixtures: ``instruments_linear_btcusdt.json``, ``instruments_spot_btcusdt.json``.
    """
    check_category(category)
    build = _linear_instrument if category == CATEGORY_LINEAR else _spot_instrument
    out: list[Instrument] = []
    for i, raw in enumerate(_result_list(payload)):
        row = as_object(raw, f"instruments[{i}]")
        if _tradable(row, category):
            out.append(build(row, f"instruments[{i}]"))
    return out, next_page_cursor(payload)


# --- tickers, funding, klines --------------------------------------------------------------


def _ticker_rows(payload: object) -> list[tuple[Row, str]]:
    rows = _result_list(payload)
    return [(as_object(raw, f"tickers[{i}]"), f"tickers[{i}]") for i, raw in enumerate(rows)]


def funding_from_ticker(row: Row, where: str) -> FundingRate:
    """A linear ticker object (REST or merged WS state) → the predicted :class:`FundingRate`.

    ``fundingRate`` settles at ``nextFundingTime`` (ms); ``fundingIntervalHour`` (whole
    hours) → ``interval_s``; ``ts_next_funding_ms`` is one interval later.
    """
    interval_s = int_field(row, "fundingIntervalHour", where) * HOUR_S
    if interval_s <= 0:
        raise payload_error(where, "field 'fundingIntervalHour' must be positive")
    ts_funding_ms = int_field(row, "nextFundingTime", where)
    return FundingRate(
        instrument_id=instrument_id(CATEGORY_LINEAR, text_field(row, "symbol", where)),
        rate=float_field(row, "fundingRate", where),
        interval_s=interval_s,
        ts_funding_ms=ts_funding_ms,
        ts_next_funding_ms=ts_funding_ms + interval_s * MS_PER_S,
    )


def mark_from_ticker(row: Row, where: str, ts_event_ms: int) -> MarkPrice:
    """A linear ticker object → :class:`MarkPrice` (``markPrice``, ``indexPrice``)."""
    return MarkPrice(
        instrument_id=instrument_id(CATEGORY_LINEAR, text_field(row, "symbol", where)),
        mark_price=float_field(row, "markPrice", where),
        ts_event_ms=ts_event_ms,
        index_price=float_field(row, "indexPrice", where),
    )


def parse_linear_tickers(payload: object) -> list[tuple[FundingRate, MarkPrice]]:
    """``GET /v5/market/tickers?category=linear`` → (predicted funding, mark) per symbol.

    The mark is stamped with the envelope ``time`` (ms). The response's ``category`` is not
    checked: the caller requested ``linear``.

    Raises
    ------
    ProtocolError
        If a field is missing or malformed.
    VenueError
        If ``retCode != 0``.

    Fixture: ``tickers_inverse_btcusd.json`` (doc sample, inverse; linear rows have the same
    keys — the recorded linear response is held back for acceptance tests).
    """
    ts_ms = _time_ms(payload)
    return [
        (funding_from_ticker(row, where), mark_from_ticker(row, where, ts_ms))
        for row, where in _ticker_rows(payload)
    ]


def parse_quotes(payload: object, category: str) -> list[Quote]:
    """``GET /v5/market/tickers`` → best bid/ask (``bid1Price``/``ask1Price``) per symbol.

    Stamped with the envelope ``time`` (ms). Fixture ``tickers_spot_btcusdt.json``.

    Raises
    ------
    ProtocolError
        If a field is missing or malformed.
    """
    ts_ms = _time_ms(payload)
    return [
        Quote(
            instrument_id=instrument_id(category, text_field(row, "symbol", where)),
            bid=float_field(row, "bid1Price", where),
            ask=float_field(row, "ask1Price", where),
            ts_event_ms=ts_ms,
        )
        for row, where in _ticker_rows(payload)
    ]


def parse_funding_history(payload: object, interval_s: int) -> list[FundingRate]:
    """``GET /v5/market/funding/history`` → settled rates, oldest first.

    ``fundingRateTimestamp`` (ms) is the settlement; ``interval_s`` (from the instrument's
    ``fundingInterval``) is not in the payload and must be given.

    Raises
    ------
    ProtocolError
        If a row is malformed.

    Fixture: ``funding_history.json``.
    """
    out = []
    for i, raw in enumerate(_result_list(payload)):
        where = f"funding[{i}]"
        row = as_object(raw, where)
        ts_ms = int_field(row, "fundingRateTimestamp", where)
        out.append(
            FundingRate(
                instrument_id=instrument_id(CATEGORY_LINEAR, text_field(row, "symbol", where)),
                rate=float_field(row, "fundingRate", where),
                interval_s=interval_s,
                ts_funding_ms=ts_ms,
                ts_next_funding_ms=ts_ms + interval_s * MS_PER_S,
            )
        )
    return sorted(out, key=lambda rate: rate.ts_funding_ms)


def _bar(raw: object, where: str, iid: InstrumentId, interval_ms: int) -> Bar:
    cells = as_array(raw, where)
    if len(cells) < 5:
        raise payload_error(where, f"expected at least 5 cells, got {len(cells)}")
    row = dict(zip(("start", "open", "high", "low", "close", "volume"), cells, strict=False))
    ts_open_ms = int_field(row, "start", where)
    return Bar(
        instrument_id=iid,
        ts_open_ms=ts_open_ms,
        ts_close_ms=ts_open_ms + interval_ms,
        open=float_field(row, "open", where),
        high=float_field(row, "high", where),
        low=float_field(row, "low", where),
        close=float_field(row, "close", where),
        volume=float_field(row, "volume", where) if "volume" in row else 0.0,
    )


def parse_klines(payload: object, iid: InstrumentId, interval: str) -> list[Bar]:
    """``GET /v5/market/kline`` or ``/mark-price-kline`` → bars, **oldest first**.

    Bybit returns rows newest first; they are sorted here. Volume is cell 5 (base coin for
    linear/spot); mark-price rows have no volume → ``0.0``. ``ts_close_ms`` = start + the
    interval.

    Parameters
    ----------
    iid : InstrumentId
        The requested instrument.
    interval : str
        The requested ``interval`` code (``1`` … ``720``, ``D``, ``W``).

    Raises
    ------
    ProtocolError
        If a row is malformed.
    ValueError
        If ``interval`` is not a supported code (a caller bug, not a payload problem).

    Fixtures: ``kline.json`` (doc sample, inverse), ``mark_price_kline.json``.
    """
    if interval not in KLINE_INTERVALS_S:
        raise ValueError(f"unsupported bybit kline interval {interval!r}")
    interval_ms = KLINE_INTERVALS_S[interval] * MS_PER_S
    rows = _result_list(payload)
    bars = [_bar(raw, f"kline[{i}]", iid, interval_ms) for i, raw in enumerate(rows)]
    return sorted(bars, key=lambda bar: bar.ts_open_ms)
