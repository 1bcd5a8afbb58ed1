"""OKX v5 payloads → ``venues.model`` value types. Units and time are converted here only.

Conventions of the raw payloads (okx-v5.md "Key conventions"): envelope
``{"code": "0", "msg": "", "data": [...]}`` with ``code`` a string; numbers and epoch-ms
timestamps are strings; **SWAP sizes count contracts** and are converted to base units here
(base qty = contracts × ``ctVal`` × ``ctMult``); SPOT sizes are already base units.
Functions that see SWAP sizes take ``contract_multipliers``: base units per contract keyed by
``instId`` (``Instrument.contract_multiplier``, see :func:`contract_multipliers`).

Every malformed payload raises :class:`venues.errors.ProtocolError` naming the field; a
non-zero ``code`` raises the error built by :func:`error_from_payload`. Only ``SWAP`` (linear)
and ``SPOT`` are supported: other ``instType`` values raise ``ProtocolError``, except in
:func:`parse_instruments` which skips them. Fixtures: ``tests/fixtures/okx-v5/``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from venues.errors import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    ProtocolError,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from venues.model import (
    Balance,
    Bar,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
    OrderAck,
    OrderRequest,
    OrderStatus,
    Position,
    Quote,
    Side,
)
from venues.okx import constants as c

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

Row = Mapping[str, Any]
_ZERO = Decimal(0)
#: A funding bill is booked within this many ms of its settlement ``fundingTime``.
FUNDING_MATCH_TOLERANCE_MS = 60_000
_STATUS = {
    "live": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "mmp_canceled": OrderStatus.CANCELED,
}


def _bad(what: str) -> ProtocolError:
    return ProtocolError(f"okx payload: {what}", venue=c.VENUE)


# --- errors ------------------------------------------------------------------------------

_REJECTIONS: tuple[tuple[frozenset[str], type[OrderRejected]], ...] = (
    (c.INSUFFICIENT_MARGIN_CODES, InsufficientMargin),
    (frozenset({c.CODE_DUPLICATE_CLIENT_ORDER_ID}), DuplicateClientOrderId),
    (c.INVALID_ORDER_CODES, InvalidOrder),
)


def _first_failure(payload: Row) -> Row | None:
    data = payload.get("data")
    if payload.get("code") not in (c.CODE_ALL_FAILED, c.CODE_PARTIAL) or not isinstance(data, list):
        return None
    for item in data:
        if isinstance(item, Mapping) and item.get("sCode") not in (None, c.CODE_OK):
            return item
    return None


def _classify(code: str, msg: str, venue: str, client_order_id: str | None) -> VenueError:
    text = f"okx error {code}: {msg}"
    if code in c.RATE_LIMIT_CODES:
        return RateLimited(text, venue=venue, code=code, retry_after_s=c.RATE_LIMIT_RETRY_AFTER_S)
    if code in c.AUTH_CODES:
        return AuthError(text, venue=venue, code=code)
    if code in c.UNAVAILABLE_CODES:
        return VenueUnavailable(text, venue=venue, code=code)
    if code in c.ORDER_NOT_FOUND_CODES:
        return OrderNotFound(text, venue=venue, code=code)
    if client_order_id is not None:
        kind = next((cls for codes, cls in _REJECTIONS if code in codes), OrderRejected)
        return kind(text, venue=venue, code=code, client_order_id=client_order_id, reason=msg)
    return VenueError(text, venue=venue, code=code)


def error_from_payload(
    payload: object, venue: str, client_order_id: str | None = None
) -> VenueError:
    """Classify an OKX error envelope (REST or WS ``event: error``) as a ``VenueError``.

    For ``code`` "1"/"2" (write failed / partial) the first failed item's ``sCode``/``sMsg``
    and ``clOrdId`` are used. Returned, not raised. Codes (okx-v5.md §6, fixture
    ``errors.json``): 50011/50061/50013 → ``RateLimited`` (``retry_after_s`` 2);
    50100–50120, 60009 → ``AuthError`` (50102 = clock skew: resync with
    ``/api/v5/public/time``); 50001/50026 and outcome-unknown 50004/51149 →
    ``VenueUnavailable``; 51400/51503/51603 → ``OrderNotFound``; with a client order id
    (a write), 51008 → ``InsufficientMargin``, 51016 → ``DuplicateClientOrderId``,
    51000/51001/51006/51010/51020/51121/51169 → ``InvalidOrder``, others ``OrderRejected``;
    anything else → ``VenueError``. A payload without a string ``code`` → ``ProtocolError``.

    Parameters
    ----------
    payload : object
        Decoded JSON.
    venue : str
        Venue name put on the error.
    client_order_id : str | None
        The order's client id when the request was a write.

    Returns
    -------
    VenueError
        The most specific subclass; ``code`` and the venue's ``msg`` kept as attributes.
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("code"), str):
        return ProtocolError("okx payload: field 'code' is missing or not a string", venue=venue)
    code, msg = payload["code"], str(payload.get("msg", ""))
    failure = _first_failure(payload)
    if failure is not None:
        code, msg = str(failure.get("sCode")), str(failure.get("sMsg", ""))
        item_id = failure.get("clOrdId")
        if isinstance(item_id, str) and item_id:
            client_order_id = item_id
    if code == c.CODE_OK:
        return ProtocolError("okx payload: error requested for a success payload", venue=venue)
    return _classify(code, msg, venue, client_order_id)


# --- field readers -----------------------------------------------------------------------


def _row(value: object, where: str) -> Row:
    if not isinstance(value, Mapping):
        raise _bad(f"{where} is {type(value).__name__}, expected an object")
    return value


def _str(row: Row, key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise _bad(f"field {key!r} is {value!r}, expected a string")
    return value


def _nonempty(row: Row, key: str) -> str:
    value = _str(row, key)
    if not value:
        raise _bad(f"field {key!r} is empty")
    return value


def _dec_text(text: str, key: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _bad(f"field {key!r} is {text!r}, expected a decimal number") from None
    if not value.is_finite():
        raise _bad(f"field {key!r} is {text!r}, expected a finite number")
    return value


def _dec(row: Row, key: str) -> Decimal:
    return _dec_text(_nonempty(row, key), key)


def _opt_dec(row: Row, key: str) -> Decimal | None:
    """``""`` (OKX's "not applicable") → ``None``."""
    text = _str(row, key)
    return _dec_text(text, key) if text else None


def _float(row: Row, key: str) -> float:
    return float(_dec(row, key))


def _ms(row: Row, key: str) -> int:
    text = _nonempty(row, key)
    if not (text.isascii() and text.isdigit()):
        raise _bad(f"field {key!r} is {text!r}, expected epoch milliseconds")
    return int(text)


def _rows(payload: object) -> list[Row]:
    """``data`` of a successful envelope; a non-zero ``code`` raises its venue error."""
    envelope = _row(payload, "payload")
    if envelope.get("code") != c.CODE_OK:
        raise error_from_payload(envelope, c.VENUE)
    data = envelope.get("data")
    if not isinstance(data, list):
        raise _bad(f"field 'data' is {type(data).__name__}, expected an array")
    return [_row(item, f"data[{i}]") for i, item in enumerate(data)]


def _one(payload: object) -> Row:
    rows = _rows(payload)
    if not rows:
        raise _bad("field 'data' is empty")
    return rows[0]


# --- identifiers and units ---------------------------------------------------------------


def instrument_id(inst_type: str, inst_id: str) -> InstrumentId:
    """Our id for an OKX instrument: ``okx:perp:BTC-USDT-SWAP`` / ``okx:spot:BTC-USDT``.

    Raises
    ------
    ProtocolError
        If ``inst_type`` is neither ``SWAP`` nor ``SPOT`` or ``inst_id`` is empty.
    """
    kinds = {c.INST_TYPE_SWAP: InstrumentKind.PERP, c.INST_TYPE_SPOT: InstrumentKind.SPOT}
    if inst_type not in kinds:
        raise _bad(f"field 'instType' is {inst_type!r}; only SWAP and SPOT are supported")
    if not inst_id or ":" in inst_id:
        raise _bad(f"field 'instId' is {inst_id!r}")
    return InstrumentId(c.VENUE, kinds[inst_type], inst_id)


def _row_id(row: Row) -> InstrumentId:
    return instrument_id(_str(row, "instType"), _str(row, "instId"))


def _base_qty(row: Row, key: str, multipliers: Mapping[str, Decimal]) -> Decimal:
    """Size field ``key`` in base units (contracts × multiplier for SWAP)."""
    qty = _dec(row, key)
    if _str(row, "instType") == c.INST_TYPE_SPOT:
        return qty
    inst_id = _str(row, "instId")
    if inst_id not in multipliers:
        raise _bad(f"field 'instId' {inst_id!r} has no known contract multiplier")
    return qty * multipliers[inst_id]


def contract_multipliers(instruments: Iterable[Instrument]) -> dict[str, Decimal]:
    """``instId`` → base units per contract, the mapping the size-converting parsers take."""
    return {i.id.symbol: i.contract_multiplier for i in instruments}


# --- instruments -------------------------------------------------------------------------


def _multiplier(row: Row) -> Decimal:
    if _str(row, "ctType") != "linear":
        raise _bad(f"field 'ctType' is {row.get('ctType')!r}; only linear swaps are supported")
    ct_mult = _opt_dec(row, "ctMult")
    multiplier = _dec(row, "ctVal") * (Decimal(1) if ct_mult is None else ct_mult)
    if multiplier <= 0:
        raise _bad(f"fields 'ctVal' × 'ctMult' give a non-positive multiplier {multiplier}")
    return multiplier


def _instrument(row: Row, funding_intervals_s: Mapping[str, int]) -> Instrument:
    iid = _row_id(row)
    is_perp = iid.kind is InstrumentKind.PERP
    if is_perp:
        base, quote = _nonempty(row, "ctValCcy"), _nonempty(row, "settleCcy")
        step = _multiplier(row)
    else:
        base, quote, step = _nonempty(row, "baseCcy"), _nonempty(row, "quoteCcy"), Decimal(1)
    return Instrument(
        id=iid,
        base=base,
        quote=quote,
        tick_size=_dec(row, "tickSz"),
        lot_step=_dec(row, "lotSz") * step,
        min_qty=_dec(row, "minSz") * step,
        min_notional_usd=_ZERO,  # OKX has no minimum notional, only minSz
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
    for row in _rows(payload):
        inst_type = _str(row, "instType")
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
    gap_ms = _ms(row, "nextFundingTime") - _ms(row, "fundingTime")
    if gap_ms <= 0 or gap_ms % 1000:
        raise _bad(f"field 'nextFundingTime' gives funding interval {gap_ms} ms")
    return gap_ms // 1000


def _funding_rate(row: Row) -> FundingRate:
    return FundingRate(
        instrument_id=_row_id(row),
        rate=_float(row, "fundingRate"),
        interval_s=funding_interval_s(row),
        ts_funding_ms=_ms(row, "fundingTime"),
        ts_next_funding_ms=_ms(row, "nextFundingTime"),
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
    return [_funding_rate(row) for row in _rows(payload)]


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
    rows = sorted(_rows(payload), key=lambda row: _ms(row, "fundingTime"))
    times = [_ms(row, "fundingTime") for row in rows]
    if len({_str(row, "instId") for row in rows}) > 1 or len(set(times)) != len(times):
        raise _bad("funding history rows mix instruments or repeat 'fundingTime'")
    gaps_ms = [b - a for a, b in itertools.pairwise(times)]
    if gaps_ms:
        gaps_ms.append(gaps_ms[-1])
    elif rows:
        if fallback_interval_s is None:
            raise _bad("one funding history row: interval unknown without fallback_interval_s")
        gaps_ms = [fallback_interval_s * 1000]
    return [
        FundingRate(
            instrument_id=_row_id(row),
            rate=_float(row, "realizedRate"),
            interval_s=gap_ms // 1000,
            ts_funding_ms=ts_ms,
            ts_next_funding_ms=ts_ms + gap_ms,
        )
        for row, ts_ms, gap_ms in zip(rows, times, gaps_ms, strict=True)
    ]


def _mark_price(row: Row) -> MarkPrice:
    return MarkPrice(
        instrument_id=_row_id(row), mark_price=_float(row, "markPx"), ts_event_ms=_ms(row, "ts")
    )


def parse_mark_prices(payload: object) -> list[MarkPrice]:
    """Mark prices from ``GET /api/v5/public/mark-price``. Fixture ``mark_price.json``.

    Raises
    ------
    ProtocolError
        Missing or malformed field.
    """
    return [_mark_price(row) for row in _rows(payload)]


def _quote(row: Row) -> Quote:
    return Quote(
        instrument_id=_row_id(row),
        bid=_float(row, "bidPx"),
        ask=_float(row, "askPx"),
        ts_event_ms=_ms(row, "ts"),
    )


def parse_tickers(payload: object) -> list[Quote]:
    """Best bid/ask from ``GET /api/v5/market/ticker(s)``. Fixture ``ticker.json``.

    Raises
    ------
    ProtocolError
        Missing or malformed field (an empty book side gives ``""`` and raises).
    """
    return [_quote(row) for row in _rows(payload)]


def _candle(row: object, iid: InstrumentId, interval_ms: int, volume_index: int | None) -> Bar:
    min_len = 6 if volume_index is None else 9
    if not isinstance(row, list) or len(row) < min_len or not all(isinstance(x, str) for x in row):
        raise _bad(f"candle row {row!r} is not an array of at least {min_len} strings")
    named = dict(zip(("ts", "o", "h", "l", "c"), row, strict=False))
    volume = 0.0
    if volume_index is not None:
        named["vol"] = row[volume_index]
        volume = _float(named, "vol")
    ts_ms = _ms(named, "ts")
    o, h, lo, cl = (_float(named, key) for key in ("o", "h", "l", "c"))
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
    envelope = _row(payload, "payload")
    if envelope.get("code") != c.CODE_OK:
        raise error_from_payload(envelope, c.VENUE)
    data = envelope.get("data")
    if not isinstance(data, list):
        raise _bad("field 'data' of candles is not an array")
    volume_index = None if mark_price else (6 if iid.kind is InstrumentKind.PERP else 5)
    bars = []
    for row in data:
        bar = _candle(row, iid, interval_s * 1000, volume_index)
        if not closed_only or row[-1] == "1":
            bars.append(bar)
    return sorted(bars, key=lambda bar: bar.ts_open_ms)


# --- orders ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriteResult:
    """One accepted item of place / batch / cancel (``sCode == "0"``): accepted, not done."""

    venue_order_id: str
    client_order_id: str
    ts_event_ms: int


def parse_write_results(
    payload: object, client_order_ids: Sequence[str] = ()
) -> list[WriteResult | VenueError]:
    """Per-item results of ``POST /api/v5/trade/order|batch-orders|cancel-order``.

    Top-level ``code`` "0"/"1"/"2" (all ok / all failed / partial) defers to each item's
    ``sCode``; a failed item becomes its classified error (not raised), carrying the item's
    ``clOrdId`` or, when OKX echoes ``""``, the one at its index in ``client_order_ids``. Fixtures
    ``place_order.json``, ``batch_orders.json``, ``cancel_order.json``, ``errors.json``.

    Raises
    ------
    ProtocolError
        Malformed item; any other top-level code raises its venue error.
    """
    envelope = _row(payload, "payload")
    data = envelope.get("data")
    if envelope.get("code") not in c.WRITE_RESULT_CODES:
        raise error_from_payload(envelope, c.VENUE)
    if not isinstance(data, list) or not data:
        raise _bad(f"field 'data' of a write result is {data!r}, expected a non-empty array")
    results: list[WriteResult | VenueError] = []
    for i, item in enumerate(data):
        row = _row(item, f"data[{i}]")
        if _nonempty(row, "sCode") == c.CODE_OK:
            ts_ms = _ms(row, "ts")
            results.append(WriteResult(_nonempty(row, "ordId"), _str(row, "clOrdId"), ts_ms))
        else:
            sent = client_order_ids[i] if i < len(client_order_ids) else ""
            single = {"code": _str(row, "sCode"), "msg": _str(row, "sMsg"), "data": []}
            results.append(error_from_payload(single, c.VENUE, _str(row, "clOrdId") or sent))
    return results


def _new_ack(result: WriteResult, request: OrderRequest) -> OrderAck:
    if result.client_order_id not in ("", request.client_order_id):
        raise _bad(f"field 'clOrdId' is {result.client_order_id!r}, sent a different id")
    return OrderAck(
        client_order_id=request.client_order_id,
        venue_order_id=result.venue_order_id,
        instrument_id=request.instrument_id,
        side=request.side,
        status=OrderStatus.NEW,
        qty=request.qty,
        filled_qty=_ZERO,
        avg_price=None,
        ts_event_ms=result.ts_event_ms,
    )


def parse_place_order(payload: object, request: OrderRequest) -> OrderAck:
    """Ack of ``POST /api/v5/trade/order``: status NEW (accepted; fills come later).

    Raises
    ------
    OrderRejected, RateLimited, AuthError, VenueUnavailable, VenueError
        The item's ``sCode`` or the top-level ``code`` (see :func:`error_from_payload`).
    ProtocolError
        Malformed payload, or not exactly one item.
    """
    results = parse_write_results(payload, [request.client_order_id])
    (result,) = _exactly(results, 1)
    if isinstance(result, VenueError):
        raise result
    return _new_ack(result, request)


def _exactly(results: list[WriteResult | VenueError], n: int) -> list[WriteResult | VenueError]:
    if len(results) != n:
        raise _bad(f"field 'data' has {len(results)} items, expected {n}")
    return results


def parse_batch_orders(
    payload: object, requests: Sequence[OrderRequest]
) -> list[OrderAck | VenueError]:
    """Results of ``POST /api/v5/trade/batch-orders`` in request order (not atomic).

    Raises
    ------
    ProtocolError
        Item count differs from ``requests`` or an item's ``clOrdId`` does not match.
    """
    ids = [r.client_order_id for r in requests]
    results = _exactly(parse_write_results(payload, ids), len(requests))
    return [
        r if isinstance(r, VenueError) else _new_ack(r, req)
        for r, req in zip(results, requests, strict=True)
    ]


def parse_cancel_order(payload: object) -> WriteResult:
    """Result of ``POST /api/v5/trade/cancel-order``: the cancel was accepted, not done.

    Raises
    ------
    OrderNotFound
        ``51400``/``51503``/``51603``: already final or unknown (query the order).
    VenueError
        Other codes; ``ProtocolError`` for a malformed payload.
    """
    (result,) = _exactly(parse_write_results(payload), 1)
    if isinstance(result, VenueError):
        raise result
    return result


def order_from_row(row: Row, multipliers: Mapping[str, Decimal]) -> OrderAck:
    """One order (``GET /api/v5/trade/order`` row or ``orders`` channel push) → ``OrderAck``.

    ``sz``/``accFillSz`` are converted to base units. A SPOT order sized in quote currency
    (``tgtCcy == "quote_ccy"``, the default for market buys) has ``qty = accFillSz``: its base
    quantity is only known from fills. ``fills`` is empty (``fillSz`` is the last fill only).

    Raises
    ------
    ProtocolError
        Missing or malformed field, unknown ``state``/``side``.
    """
    iid, state, side = _row_id(row), _str(row, "state"), _str(row, "side")
    if state not in _STATUS or side not in ("buy", "sell"):
        raise _bad(f"field 'state'/'side' is {state!r}/{side!r}")
    filled = _base_qty(row, "accFillSz", multipliers)
    quote_sized = row.get("tgtCcy") == "quote_ccy" and row.get("instType") == c.INST_TYPE_SPOT
    return OrderAck(
        client_order_id=_str(row, "clOrdId"),
        venue_order_id=_nonempty(row, "ordId"),
        instrument_id=iid,
        side=Side(side),
        status=_STATUS[state],
        qty=filled if quote_sized else _base_qty(row, "sz", multipliers),
        filled_qty=filled,
        avg_price=_opt_dec(row, "avgPx"),
        ts_event_ms=_ms(row, "uTime"),
    )


def parse_order(payload: object, multipliers: Mapping[str, Decimal]) -> OrderAck:
    """``GET /api/v5/trade/order`` → ``OrderAck``. Fixture ``order_details.json``.

    Raises
    ------
    ProtocolError
        See :func:`order_from_row`; error envelope → its venue error (``51603`` not found).
    """
    return order_from_row(_one(payload), multipliers)


# --- account -----------------------------------------------------------------------------


def _position(row: Row, multipliers: Mapping[str, Decimal]) -> Position:
    iid = _row_id(row)
    qty = _base_qty(row, "pos", multipliers)
    pos_side = _str(row, "posSide")
    if pos_side not in ("net", "long", "short"):
        raise _bad(f"field 'posSide' is {pos_side!r}")
    if pos_side != "net":
        qty = abs(qty) if pos_side == "long" else -abs(qty)
    return Position(
        instrument_id=iid,
        qty=qty,
        entry_price=_opt_dec(row, "avgPx") or _ZERO,
        mark_price=_opt_dec(row, "markPx") or _ZERO,
        ts_event_ms=_ms(row, "uTime"),
    )


def parse_positions(payload: object, multipliers: Mapping[str, Decimal]) -> list[Position]:
    """``GET /api/v5/account/positions`` → signed base-unit positions.

    ``pos`` counts contracts (signed in net mode); in long/short mode the sign comes from
    ``posSide``. Empty ``avgPx``/``markPx`` (flat) give 0. Fixture ``positions.json`` (doc
    sample is a FUTURES row; SWAP rows share the keys).

    Raises
    ------
    ProtocolError
        Missing or malformed field, unsupported ``instType``, unknown contract multiplier.
    """
    return [_position(row, multipliers) for row in _rows(payload)]


def parse_balances(payload: object) -> list[Balance]:
    """``GET /api/v5/account/balance`` ``details[]`` → one ``Balance`` per currency.

    ``total`` = ``cashBal``; ``available`` = ``availBal`` (``availEq`` when empty, as in
    some account modes). Fixture ``balance.json``.

    Raises
    ------
    ProtocolError
        Missing or malformed field.
    """
    details = _one(payload).get("details")
    if not isinstance(details, list):
        raise _bad("field 'details' is not an array")
    out = []
    for i, item in enumerate(details):
        row = _row(item, f"details[{i}]")
        available = _opt_dec(row, "availBal")
        out.append(
            Balance(
                venue=c.VENUE,
                asset=_nonempty(row, "ccy"),
                total=_dec(row, "cashBal"),
                available=available if available is not None else _dec(row, "availEq"),
                ts_event_ms=_ms(row, "uTime"),
            )
        )
    return out


def _find_rate(iid: InstrumentId, ts_ms: int, rates: Sequence[FundingRate]) -> FundingRate:
    for rate in rates:
        near = abs(rate.ts_funding_ms - ts_ms) <= FUNDING_MATCH_TOLERANCE_MS
        if rate.instrument_id == iid and near:
            return rate
    raise _bad(f"no funding rate of {iid} settled near bill 'ts' {ts_ms}")


def _funding_payment(
    row: Row, multipliers: Mapping[str, Decimal], rates: Sequence[FundingRate]
) -> FundingPayment:
    sub_type, iid, ts_ms = _str(row, "subType"), _row_id(row), _ms(row, "ts")
    if sub_type not in (c.BILL_SUBTYPE_FUNDING_EXPENSE, c.BILL_SUBTYPE_FUNDING_INCOME):
        raise _bad(f"field 'subType' is {sub_type!r} on a funding bill")
    amount = abs(_dec(row, "pnl"))
    amount = -amount if sub_type == c.BILL_SUBTYPE_FUNDING_EXPENSE else amount
    rate = _find_rate(iid, ts_ms, rates)
    size = abs(_base_qty(row, "sz", multipliers))
    rate_dec = Decimal(repr(rate.rate))
    # longs pay when the rate is positive: the position's sign is −sign(amount × rate)
    qty = -size if amount * rate_dec > 0 else size
    mark = abs(amount) / (abs(rate_dec) * size) if rate_dec and size else _dec(row, "px")
    return FundingPayment(iid, ts_ms, rate.rate, rate.interval_s, qty, mark, amount)


def parse_funding_payments(
    payload: object, multipliers: Mapping[str, Decimal], rates: Sequence[FundingRate]
) -> list[FundingPayment]:
    """Funding bills of ``GET /api/v5/account/bills?type=8`` (other bill types skipped).

    Amount from ``pnl``, signed by ``subType`` (173 expense → negative, 174 income →
    positive). Bills carry no rate: it is taken from ``rates`` (funding-rate history) by
    instrument and settlement time (±60 s). ``sz`` is the position in contracts; the
    position's sign and the settlement mark price follow from
    ``amount = −rate × qty × mark`` (``px`` when the rate is zero). Dedupe on ``billId``
    upstream. Fixture ``bills.json`` (a trade bill; funding bills share the shape).

    Raises
    ------
    ProtocolError
        Malformed field, or no matching rate in ``rates``.
    """
    return [
        _funding_payment(row, multipliers, rates)
        for row in _rows(payload)
        if row.get("type") == c.BILL_TYPE_FUNDING
    ]


# --- WebSocket pushes --------------------------------------------------------------------


def _push_rows(message: object, channel: str) -> list[Row]:
    push = _row(message, "push")
    arg = _row(push.get("arg"), "field 'arg'")
    if arg.get("channel") != channel:
        raise _bad(f"field 'arg.channel' is {arg.get('channel')!r}, expected {channel!r}")
    data = push.get("data")
    if not isinstance(data, list):
        raise _bad("field 'data' of a push is not an array")
    return [_row(item, f"data[{i}]") for i, item in enumerate(data)]


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
