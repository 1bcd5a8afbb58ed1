"""Hyperliquid payloads → ``venues.model`` value types. Units and times are converted here only.

Hyperliquid sends prices and sizes as decimal strings (coins, USDC), times and ids as JSON
numbers (epoch ms; ``oid`` above 2^32). Perps are named by coin (``BTC``); builder-deployed
(HIP-3) perps are ``dex:COIN`` and spot markets ``@107`` / ``PURR/USDC`` — account-level
endpoints mix them in, so rows for anything but a first-dex perp are skipped (see
:func:`is_first_dex_perp`). Malformed payloads raise :class:`venues.errors.ProtocolError`
naming the field; venue refusals map onto the ``venues.errors`` tree (:func:`exchange_error`,
:func:`order_error`).

Source: offline pack ``/work/shared/venues/hyperliquid.md`` §3 market data, §4 private
endpoints, §5 WebSocket, §6 errors; fixtures in ``fixtures/hyperliquid/`` named per function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, NoReturn

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
from venues.hyperliquid import constants as c
from venues.model import (
    HOUR_MS,
    AccountSummary,
    Balance,
    Bar,
    Fill,
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    MarkPrice,
    OrderAck,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
)

# ------------------------------------------------------------------------------ field access


def _fail(where: str, what: str) -> NoReturn:
    raise ProtocolError(f"hyperliquid {where}: {what}", venue=c.VENUE)


def _obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(where, f"expected an object, got {type(value).__name__}")
    return value


def _list(value: object, where: str) -> Sequence[Any]:
    if not isinstance(value, list):
        _fail(where, f"expected an array, got {type(value).__name__}")
    return value


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        _fail(where, f"missing field {key!r}")
    return obj[key]


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = _get(obj, key, where)
    if not isinstance(value, str):
        _fail(where, f"field {key!r} is not a string: {value!r}")
    return value


def _int(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = _get(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"field {key!r} is not an integer: {value!r}")
    return value


def _dec(obj: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = _get(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, str | int):
        _fail(where, f"field {key!r} is not a decimal string: {value!r}")
    try:
        result = Decimal(value)
    except InvalidOperation:
        _fail(where, f"field {key!r} is not a decimal: {value!r}")
    if not result.is_finite():
        _fail(where, f"field {key!r} is not finite: {value!r}")
    return result


def _float(obj: Mapping[str, Any], key: str, where: str) -> float:
    return float(_dec(obj, key, where))


def _side(obj: Mapping[str, Any], where: str) -> Side:
    raw = _str(obj, "side", where)
    if raw not in ("B", "A"):
        _fail(where, f"field 'side' is not 'B' or 'A': {raw!r}")
    return Side.BUY if raw == "B" else Side.SELL


# ------------------------------------------------------------------------------ names and ids


def is_first_dex_perp(coin: str) -> bool:
    """True for a first-dex perp coin (``BTC``); False for HIP-3 ``dex:COIN`` and spot keys."""
    return (
        bool(coin)
        and c.HIP3_DEX_SEPARATOR not in coin
        and "/" not in coin
        and not coin.startswith(c.SPOT_KEY_PREFIX)
    )


def instrument_id(coin: str) -> InstrumentId:
    """Our id of a first-dex perp: ``hyperliquid:perp:BTC``.

    Raises
    ------
    ProtocolError
        If ``coin`` is not a first-dex perp name.
    """
    if not is_first_dex_perp(coin):
        _fail("coin", f"{coin!r} is not a first-dex perp (HIP-3 or spot)")
    return InstrumentId(c.VENUE, InstrumentKind.PERP, coin)


def client_order_id_from_cloid(cloid: object) -> str:
    """Our client order id (32 hex digits) from a cloid ``"0x…"``; ``""`` for ``null``.

    Raises
    ------
    ProtocolError
        If ``cloid`` is neither ``None`` nor a ``0x``-prefixed string.
    """
    if cloid is None:
        return ""
    if not isinstance(cloid, str) or not cloid.startswith(c.CLOID_PREFIX):
        _fail("cloid", f"not a 0x-prefixed cloid: {cloid!r}")
    return cloid[len(c.CLOID_PREFIX) :].lower()


def next_funding_ms(now_ms: int) -> int:
    """Next hourly settlement strictly after ``now_ms``: the next full UTC hour, epoch ms."""
    return (now_ms // HOUR_MS + 1) * HOUR_MS


# ------------------------------------------------------------------------------ tick and lot


def price_tick(price: Decimal, sz_decimals: int) -> Decimal:
    """Price increment valid at ``price`` for a perp with ``sz_decimals``, USDC.

    Rule (GitBook "Tick and lot size"): at most 5 significant figures and at most
    ``6 − szDecimals`` decimals; integer prices are always allowed. So the tick is
    ``min(1, max(10^(e − 4), 10^−(6 − szDecimals)))`` with ``e`` the decimal exponent of
    ``price``: BTC (5) at 83757 → 1, ETH (4) at 2124.6 → 0.1, SOL (2) at 86.148 → 0.001.

    Raises
    ------
    ValueError
        If ``price`` is not positive or ``sz_decimals`` is outside 0..6.
    """
    if not price.is_finite() or price <= 0:
        raise ValueError(f"price must be positive, got {price}")
    if not 0 <= sz_decimals <= c.PERP_PRICE_MAX_DECIMALS:
        raise ValueError(f"szDecimals must be within 0..6, got {sz_decimals}")
    sig_fig_tick = Decimal(1).scaleb(price.adjusted() - (c.PRICE_MAX_SIG_FIGS - 1))
    decimals_tick = Decimal(1).scaleb(-(c.PERP_PRICE_MAX_DECIMALS - sz_decimals))
    return min(Decimal(1), max(sig_fig_tick, decimals_tick))


def round_price(price: Decimal, sz_decimals: int, rounding: str = ROUND_FLOOR) -> Decimal:
    """Round ``price`` to its :func:`price_tick` (``decimal`` rounding mode), USDC.

    Raises
    ------
    ValueError
        As :func:`price_tick`.
    """
    tick = price_tick(price, sz_decimals)
    return (price / tick).to_integral_value(rounding=rounding) * tick


# ------------------------------------------------------------------------------ universe


@dataclass(frozen=True, slots=True)
class PerpAsset:
    """One entry of ``meta.universe``; ``asset`` is its index (the order's ``a``).

    Delisted coins keep their index. ``instrument.tick_size`` is the finest tick
    (``10^−(6 − szDecimals)``); the tick really in force depends on the price — use
    :func:`price_tick` when pricing an order.
    """

    asset: int
    coin: str
    sz_decimals: int
    max_leverage: int
    is_delisted: bool
    instrument: Instrument


def _perp_asset(index: int, raw: object) -> PerpAsset | None:
    where = f"meta.universe[{index}]"
    entry = _obj(raw, where)
    coin = _str(entry, "name", where)
    sz_decimals = _int(entry, "szDecimals", where)
    if not 0 <= sz_decimals <= c.PERP_PRICE_MAX_DECIMALS:
        _fail(where, f"field 'szDecimals' out of range: {sz_decimals}")
    if not is_first_dex_perp(coin):
        return None
    lot = Decimal(1).scaleb(-sz_decimals)
    instrument = Instrument(
        id=instrument_id(coin),
        base=coin,
        quote=c.QUOTE_ASSET,
        tick_size=Decimal(1).scaleb(-(c.PERP_PRICE_MAX_DECIMALS - sz_decimals)),
        lot_step=lot,
        min_qty=lot,
        min_notional_usd=c.MIN_ORDER_NOTIONAL_USD,
        funding_interval_s=c.FUNDING_INTERVAL_S,
    )
    delisted = entry.get("isDelisted", False) is True
    leverage = _int(entry, "maxLeverage", where)
    return PerpAsset(index, coin, sz_decimals, leverage, delisted, instrument)


def parse_meta(payload: object) -> list[PerpAsset]:
    """``POST /info {"type":"meta"}`` → the perp universe in index order (fixture ``meta.json``).

    HIP-3 names are skipped, delisted coins kept (``is_delisted``) so indices stay true.

    Raises
    ------
    ProtocolError
        If ``universe`` or an entry is malformed.
    """
    universe = _list(_get(_obj(payload, "meta"), "universe", "meta"), "meta.universe")
    assets = (_perp_asset(i, raw) for i, raw in enumerate(universe))
    return [a for a in assets if a is not None]


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """``metaAndAssetCtxs`` parsed: universe plus current funding and mark of listed perps."""

    assets: list[PerpAsset]
    funding_rates: dict[InstrumentId, FundingRate]
    mark_prices: dict[InstrumentId, MarkPrice]


def parse_asset_ctx(
    coin: str, ctx: object, ts_event_ms: int, where: str
) -> tuple[MarkPrice, FundingRate]:
    """One asset ctx → (mark with oracle as index, funding of the hour in progress).

    ``funding`` is the hourly rate of the current hour (it moves until settlement at the next
    full UTC hour); ``markPx``/``oraclePx`` in USDC. ``ts_event_ms`` is the receipt time (the
    payload carries none).

    Raises
    ------
    ProtocolError
        If a field is missing or not a decimal string, or ``coin`` is not a first-dex perp.
    """
    fields = _obj(ctx, where)
    iid = instrument_id(coin)
    mark_px = _float(fields, "markPx", where)
    mark = MarkPrice(iid, mark_px, ts_event_ms, _float(fields, "oraclePx", where))
    ts_funding_ms = next_funding_ms(ts_event_ms)
    funding = FundingRate(
        instrument_id=iid,
        rate=_float(fields, "funding", where),
        interval_s=c.FUNDING_INTERVAL_S,
        ts_funding_ms=ts_funding_ms,
        ts_next_funding_ms=ts_funding_ms + HOUR_MS,
        mark_price=mark_px,
    )
    return mark, funding


def parse_meta_and_asset_ctxs(payload: object, ts_event_ms: int) -> MarketSnapshot:
    """``POST /info {"type":"metaAndAssetCtxs"}`` → :class:`MarketSnapshot`.

    ``ctxs[i]`` belongs to ``universe[i]``; delisted coins get no funding/mark entry. Listed
    instruments carry ``tick_size = price_tick(markPx, szDecimals)`` — the tick at the current
    price, which changes when the price crosses a power of ten.
    Fixtures ``meta_and_asset_ctxs.json``, ``meta_and_asset_ctxs_prefix_recorded.json``.

    Raises
    ------
    ProtocolError
        If the payload is not ``[meta, ctxs]`` of equal lengths or a ctx is malformed.
    """
    pair = _list(payload, "metaAndAssetCtxs")
    if len(pair) != 2:
        _fail("metaAndAssetCtxs", f"expected [meta, ctxs], got {len(pair)} elements")
    meta = _obj(pair[0], "metaAndAssetCtxs[0]")
    ctxs = _list(pair[1], "metaAndAssetCtxs[1]")
    if len(ctxs) != len(_list(_get(meta, "universe", "meta"), "meta.universe")):
        _fail("metaAndAssetCtxs", "ctxs and universe differ in length")
    assets = parse_meta(meta)
    funding: dict[InstrumentId, FundingRate] = {}
    marks: dict[InstrumentId, MarkPrice] = {}
    for i, asset in enumerate(assets):
        where = f"metaAndAssetCtxs[1][{asset.asset}]"
        if asset.is_delisted:
            continue
        mark, rate = parse_asset_ctx(asset.coin, ctxs[asset.asset], ts_event_ms, where)
        marks[mark.instrument_id] = mark
        funding[rate.instrument_id] = rate
        mark_px = _dec(_obj(ctxs[asset.asset], where), "markPx", where)
        if mark_px <= 0:
            _fail(where, f"field 'markPx' is not positive: {mark_px}")
        tick = price_tick(mark_px, asset.sz_decimals)
        assets[i] = replace(asset, instrument=replace(asset.instrument, tick_size=tick))
    return MarketSnapshot(assets, funding, marks)


# ------------------------------------------------------------------------------ history


def parse_funding_history(payload: object) -> list[FundingRate]:
    """``POST /info {"type":"fundingHistory"}`` → settled hourly rates, oldest first.

    ``time`` lands a few ms after the hour; it is floored to the hour for ``ts_funding_ms``.
    Pre-2024 rows (8-hour spacing, another regime) are parsed the same way: do not mix them
    with recent data. Fixtures ``funding_history_btc.json``,
    ``funding_history_btc_off_floor.json``.

    Raises
    ------
    ProtocolError
        If a row is malformed or names a HIP-3/spot coin.
    """
    rates = []
    for i, raw in enumerate(_list(payload, "fundingHistory")):
        where = f"fundingHistory[{i}]"
        row = _obj(raw, where)
        ts_ms = _int(row, "time", where) // HOUR_MS * HOUR_MS
        rates.append(
            FundingRate(
                instrument_id=instrument_id(_str(row, "coin", where)),
                rate=_float(row, "fundingRate", where),
                interval_s=c.FUNDING_INTERVAL_S,
                ts_funding_ms=ts_ms,
                ts_next_funding_ms=ts_ms + HOUR_MS,
            )
        )
    return rates


def parse_candle(raw: object, where: str = "candle") -> Bar:
    """One candle ``{t, T, s, i, o, c, h, l, v, n}`` → :class:`Bar`.

    ``T`` is the last ms of the interval, so ``ts_close_ms = T + 1``; ``v`` in coins.
    Fixtures ``candle_snapshot_btc_1h.json``, ``ws_candle_btc_1m.json``.

    Raises
    ------
    ProtocolError
        If a field is missing or malformed, or ``T < t``.
    """
    row = _obj(raw, where)
    ts_open_ms, ts_last_ms = _int(row, "t", where), _int(row, "T", where)
    if ts_last_ms < ts_open_ms:
        _fail(where, f"field 'T' {ts_last_ms} precedes 't' {ts_open_ms}")
    return Bar(
        instrument_id=instrument_id(_str(row, "s", where)),
        ts_open_ms=ts_open_ms,
        ts_close_ms=ts_last_ms + 1,
        open=_float(row, "o", where),
        high=_float(row, "h", where),
        low=_float(row, "l", where),
        close=_float(row, "c", where),
        volume=_float(row, "v", where),
    )


def parse_candle_snapshot(payload: object) -> list[Bar]:
    """``POST /info {"type":"candleSnapshot"}`` → bars, ascending; the last may be forming.

    Raises
    ------
    ProtocolError
        If the payload is not an array or a candle is malformed (see :func:`parse_candle`).
    """
    rows = _list(payload, "candleSnapshot")
    return [parse_candle(raw, f"candleSnapshot[{i}]") for i, raw in enumerate(rows)]


# ------------------------------------------------------------------------------ errors


def _starts(text: str, prefixes: Sequence[str]) -> bool:
    return any(text.startswith(p) for p in prefixes)


def order_error(text: str, client_order_id: str) -> VenueError:
    """Classify a per-order error string (live strings carry suffixes such as ``asset=4``).

    Returns ``InsufficientMargin``, ``DuplicateClientOrderId``, ``InvalidOrder``,
    ``OrderNotFound`` (cancel of an unknown order), ``RateLimited`` or a plain
    ``OrderRejected``; the venue text is kept as ``reason``. Fixture ``errors.json``.
    """
    kwargs: dict[str, Any] = {"venue": c.VENUE, "client_order_id": client_order_id}
    if _starts(text, c.ERR_INSUFFICIENT_MARGIN_PREFIXES):
        return InsufficientMargin(text, reason=text, code="margin", **kwargs)
    if _starts(text, c.ERR_DUPLICATE_CLOID_PREFIXES):
        return DuplicateClientOrderId(text, reason=text, code="duplicate_cloid", **kwargs)
    if _starts(text, c.ERR_INVALID_ORDER_PREFIXES):
        return InvalidOrder(text, reason=text, code="invalid_order", **kwargs)
    if _starts(text, c.ERR_ORDER_NOT_FOUND_PREFIXES):
        return OrderNotFound(f"{text} (client order id {client_order_id!r})", venue=c.VENUE)
    if _starts(text, c.ERR_RATE_LIMIT_PREFIXES):
        return RateLimited(text, venue=c.VENUE, retry_after_s=c.ADDRESS_EXHAUSTED_INTERVAL_S)
    return OrderRejected(text, reason=text, **kwargs)


def exchange_error(payload: object, client_order_id: str | None = None) -> VenueError | None:
    """The error of a whole ``/exchange`` refusal ``{"status":"err","response":"<text>"}``.

    ``None`` when ``status`` is ``"ok"``. Address-limit text → ``RateLimited`` (10 s, the
    venue's one-request-per-10-s allowance); signer/agent/deposit text → ``AuthError``;
    ``Invalid nonce`` → ``VenueError`` with code ``invalid_nonce`` (after a re-send of the
    same body the first may have landed: reconcile by cloid); order-level text with a
    ``client_order_id`` → as :func:`order_error`. Fixtures ``errors.json``,
    ``exchange_err_unknown_signer.json``.

    Raises
    ------
    ProtocolError
        If ``status`` is neither ``ok`` nor ``err`` or ``response`` is not a string.
    """
    body = _obj(payload, "exchange")
    status = _str(body, "status", "exchange")
    if status == "ok":
        return None
    if status != "err":
        _fail("exchange", f"field 'status' is {status!r}, expected 'ok' or 'err'")
    text = _str(body, "response", "exchange")
    if _starts(text, c.ERR_RATE_LIMIT_PREFIXES):
        return RateLimited(text, venue=c.VENUE, retry_after_s=c.ADDRESS_EXHAUSTED_INTERVAL_S)
    if _starts(text, c.ERR_AUTH_PREFIXES):
        return AuthError(text, venue=c.VENUE, code="auth")
    if _starts(text, c.ERR_NONCE_PREFIXES):
        return VenueError(text, venue=c.VENUE, code="invalid_nonce")
    if client_order_id is not None:
        return order_error(text, client_order_id)
    return VenueError(text, venue=c.VENUE)


def http_error(status_code: int, body: str) -> VenueError:
    """Error for a non-200 HTTP answer: 429 → ``RateLimited`` (60 s, the weight window),
    5xx → ``VenueUnavailable``, other 4xx (422 = unknown request type) → ``ProtocolError``.
    ``body`` (truncated to 200 chars) goes into the message."""
    text = f"HTTP {status_code}: {body[:200]}"
    if status_code == c.HTTP_STATUS_RATE_LIMITED:
        return RateLimited(text, venue=c.VENUE, retry_after_s=60.0, code=str(status_code))
    if status_code >= 500:
        return VenueUnavailable(text, venue=c.VENUE, code=str(status_code))
    return ProtocolError(text, venue=c.VENUE, code=str(status_code))


# ------------------------------------------------------------------------------ orders


def _statuses(payload: object, kind: str, expected: int) -> Sequence[Any]:
    error = exchange_error(payload)
    if error is not None:
        raise error
    where = f"{kind} response"
    response = _obj(_get(_obj(payload, where), "response", where), where)
    data = _obj(_get(response, "data", where), where)
    statuses = _list(_get(data, "statuses", where), f"{where}.statuses")
    if len(statuses) != expected:
        _fail(where, f"{len(statuses)} statuses for {expected} requests")
    return statuses


def _ack(
    order: OrderRequest,
    oid: str,
    status: OrderStatus,
    ts_ms: int,
    *,
    filled: tuple[Decimal, Decimal | None] = (Decimal(0), None),
    reject: tuple[str, str] | None = None,
) -> OrderAck:
    return OrderAck(
        client_order_id=order.client_order_id,
        venue_order_id=oid,
        instrument_id=order.instrument_id,
        side=order.side,
        status=status,
        qty=order.qty,
        filled_qty=filled[0],
        avg_price=filled[1],
        ts_event_ms=ts_ms,
        reject_code=reject[0] if reject else None,
        reject_reason=reject[1] if reject else None,
    )


def _filled_status(order: OrderRequest, total: Decimal) -> OrderStatus:
    if total >= order.qty:
        return OrderStatus.FILLED
    ioc = order.order_type is OrderType.MARKET or order.time_in_force is TimeInForce.IOC
    return OrderStatus.CANCELED if ioc else OrderStatus.PARTIALLY_FILLED


def _check_cloid(entry: Mapping[str, Any], order: OrderRequest, where: str) -> None:
    echoed = client_order_id_from_cloid(entry.get("cloid"))
    if echoed and echoed != order.client_order_id.lower().removeprefix(c.CLOID_PREFIX):
        _fail(where, f"field 'cloid' {echoed!r} does not match {order.client_order_id!r}")


def _order_outcome(raw: object, order: OrderRequest, ts_ms: int, where: str) -> OrderAck:
    if isinstance(raw, str):  # TP/SL children: "waitingForFill" / "waitingForTrigger"
        return _ack(order, "", OrderStatus.NEW, ts_ms)
    entry = _obj(raw, where)
    if "error" in entry:
        text = _str(entry, "error", where)
        error = order_error(text, order.client_order_id)
        code = error.code or type(error).__name__
        return _ack(order, "", OrderStatus.REJECTED, ts_ms, reject=(code, text))
    if "resting" in entry:
        resting = _obj(entry["resting"], f"{where}.resting")
        _check_cloid(resting, order, f"{where}.resting")
        return _ack(order, str(_int(resting, "oid", f"{where}.resting")), OrderStatus.NEW, ts_ms)
    if "filled" in entry:
        where = f"{where}.filled"
        filled = _obj(entry["filled"], where)
        _check_cloid(filled, order, where)
        total = _dec(filled, "totalSz", where)
        oid = str(_int(filled, "oid", where))
        avg_px = _dec(filled, "avgPx", where)
        return _ack(order, oid, _filled_status(order, total), ts_ms, filled=(total, avg_px))
    _fail(where, "status has none of 'resting', 'filled', 'error'")


def parse_order_response(
    payload: object, orders: Sequence[OrderRequest], ts_event_ms: int
) -> list[OrderAck]:
    """``order`` action response → one :class:`OrderAck` per request, in request order.

    ``status: "ok"`` does not mean accepted: ``resting`` → NEW, ``filled`` → FILLED (or
    CANCELED/PARTIALLY_FILLED when ``totalSz`` < qty for IOC/GTC), ``error`` → REJECTED with
    ``reject_code`` from :func:`order_error` and the venue text as ``reject_reason``.
    Use :func:`raise_for_rejection` to turn a rejected ack into its exception. Fixtures
    ``order_response_resting.json``, ``order_response_filled.json``,
    ``order_response_error.json``, ``order_response_resting_cloid_recorded.json``.

    Raises
    ------
    VenueError
        The :func:`exchange_error` of a whole-action refusal (``status: "err"``).
    ProtocolError
        If the statuses are malformed, fewer/more than ``orders``, or echo another cloid.
    """
    statuses = _statuses(payload, "order", len(orders))
    return [
        _order_outcome(raw, order, ts_event_ms, f"order response.statuses[{i}]")
        for i, (raw, order) in enumerate(zip(statuses, orders, strict=True))
    ]


def raise_for_rejection(ack: OrderAck) -> OrderAck:
    """Return ``ack`` unless REJECTED; then raise its :func:`order_error` classification."""
    if ack.status is OrderStatus.REJECTED:
        raise order_error(ack.reject_reason or "", ack.client_order_id)
    return ack


def parse_cancel_response(
    payload: object, client_order_ids: Sequence[str]
) -> list[VenueError | None]:
    """``cancel``/``cancelByCloid`` response → per request ``None`` (``"success"``) or the
    :func:`order_error` (``OrderNotFound`` for "never placed, already canceled, or filled").
    Fixtures ``cancel_response_ok.json``, ``cancel_response_error.json``.

    Raises
    ------
    VenueError
        The :func:`exchange_error` of a whole-action refusal.
    ProtocolError
        If a status is neither ``"success"`` nor ``{"error": …}``.
    """
    statuses = _statuses(payload, "cancel", len(client_order_ids))
    results: list[VenueError | None] = []
    for i, (raw, coid) in enumerate(zip(statuses, client_order_ids, strict=True)):
        where = f"cancel response.statuses[{i}]"
        if raw == "success":
            results.append(None)
        else:
            results.append(order_error(_str(_obj(raw, where), "error", where), coid))
    return results


_FINAL_STATUS = {"filled": OrderStatus.FILLED, "rejected": OrderStatus.REJECTED}


def _order_status(raw: str, remaining: Decimal, original: Decimal) -> OrderStatus:
    if raw in ("open", "triggered"):
        return OrderStatus.PARTIALLY_FILLED if remaining < original else OrderStatus.NEW
    if raw in _FINAL_STATUS:
        return _FINAL_STATUS[raw]
    if raw.endswith("Rejected"):
        return OrderStatus.REJECTED
    if raw.endswith(("Canceled", "Cancel")) or raw == "canceled":
        return OrderStatus.CANCELED
    _fail("order status", f"unknown status {raw!r}")


def parse_order_update(raw: object, where: str = "orderUpdate") -> OrderAck:
    """``{"order": {...}, "status", "statusTimestamp"}`` → :class:`OrderAck`.

    ``sz`` is the remaining size (a canceled order keeps it): ``filled_qty = origSz − sz``;
    ``avg_price`` is not reported (``None``); ``*Rejected`` statuses → REJECTED with the
    status as ``reject_code``. Shared by ``orderStatus`` and WS ``orderUpdates``.

    Raises
    ------
    ProtocolError
        If a field is missing/malformed, the status unknown or the coin not a first-dex perp.
    """
    entry = _obj(raw, where)
    order = _obj(_get(entry, "order", where), f"{where}.order")
    remaining = _dec(order, "sz", f"{where}.order")
    original = _dec(order, "origSz", f"{where}.order") if "origSz" in order else remaining
    raw_status = _str(entry, "status", where)
    status = _order_status(raw_status, remaining, original)
    rejected = status is OrderStatus.REJECTED
    return OrderAck(
        client_order_id=client_order_id_from_cloid(order.get("cloid")),
        venue_order_id=str(_int(order, "oid", f"{where}.order")),
        instrument_id=instrument_id(_str(order, "coin", f"{where}.order")),
        side=_side(order, f"{where}.order"),
        status=status,
        qty=original,
        filled_qty=original - remaining,
        avg_price=None,
        ts_event_ms=_int(entry, "statusTimestamp", where),
        reject_code=raw_status if rejected else None,
        reject_reason=raw_status if rejected else None,
    )


def parse_order_status(payload: object, client_order_id: str = "") -> OrderAck:
    """``POST /info {"type":"orderStatus"}`` → :class:`OrderAck` (note ``order.order``).

    Fixtures ``order_status_open.json``, ``order_status_filled_cloid.json``,
    ``order_status_unknown.json``.

    Raises
    ------
    OrderNotFound
        On ``{"status": "unknownOid"}``.
    ProtocolError
        As :func:`parse_order_update`, or for another top-level ``status``.
    """
    body = _obj(payload, "orderStatus")
    status = _str(body, "status", "orderStatus")
    if status == "unknownOid":
        raise OrderNotFound(f"unknown order {client_order_id!r}", venue=c.VENUE)
    if status != "order":
        _fail("orderStatus", f"field 'status' is {status!r}, expected 'order' or 'unknownOid'")
    return parse_order_update(_get(body, "order", "orderStatus"), "orderStatus.order")


# ------------------------------------------------------------------------------ account


def parse_fill(raw: object, where: str = "fill") -> Fill:
    """One fill → :class:`Fill`: ``crossed`` → taker; ``fee`` USDC, negative = rebate.

    Raises
    ------
    ProtocolError
        If a field is missing or malformed.
    """
    row = _obj(raw, where)
    crossed = _get(row, "crossed", where)
    if not isinstance(crossed, bool):
        _fail(where, f"field 'crossed' is not a boolean: {crossed!r}")
    return Fill(
        instrument_id=instrument_id(_str(row, "coin", where)),
        client_order_id=client_order_id_from_cloid(row.get("cloid")),
        venue_order_id=str(_int(row, "oid", where)),
        trade_id=str(_int(row, "tid", where)),
        side=_side(row, where),
        qty=_dec(row, "sz", where),
        price=_dec(row, "px", where),
        fee_usd=_dec(row, "fee", where),
        liquidity=Liquidity.TAKER if crossed else Liquidity.MAKER,
        ts_event_ms=_int(row, "time", where),
    )


def parse_user_fills(payload: object, where: str = "userFills") -> list[Fill]:
    """``userFills`` rows (also WS ``userFills``/``user`` fills) → fills of first-dex perps.

    Rows of HIP-3 and spot coins are skipped. Dedupe on ``(coin, tid, time)`` downstream.
    Fixtures ``user_fills.json``, ``ws_user_events_fills.json``.
    """
    fills = []
    for i, raw in enumerate(_list(payload, where)):
        row = _obj(raw, f"{where}[{i}]")
        if is_first_dex_perp(_str(row, "coin", f"{where}[{i}]")):
            fills.append(parse_fill(row, f"{where}[{i}]"))
    return fills


def _funding_payment(row: Mapping[str, Any], ts_ms: int, where: str) -> FundingPayment:
    qty = _dec(row, "szi", where)
    hourly = _dec(row, "fundingRate", where)
    samples = row.get("nSamples") or 1
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        _fail(where, f"field 'nSamples' is not a positive integer: {samples!r}")
    amount = _dec(row, "usdc", where)
    rate = hourly * samples
    oracle = -amount / (rate * qty) if rate and qty else Decimal(0)
    return FundingPayment(
        instrument_id=instrument_id(_str(row, "coin", where)),
        ts_funding_ms=ts_ms,
        rate=float(rate),
        interval_s=c.FUNDING_INTERVAL_S * samples,
        position_qty=qty,
        mark_price=oracle,
        amount_usd=amount,
    )


def parse_user_funding(payload: object) -> list[FundingPayment]:
    """``POST /info {"type":"userFunding"}`` → funding cash flows of first-dex perps.

    ``usdc`` < 0 paid, > 0 received (``amount_usd``); ``szi`` signed coins. Payment =
    size × **oracle** price × rate, so ``mark_price`` is the implied oracle price
    ``−usdc / (rate × szi)`` (0 when rate or size is 0). Rows with ``nSamples = n > 1``
    (pre-2024) fold n hourly settlements: ``rate = fundingRate × n``, ``interval_s = 3600 n``.
    Dedupe on ``(time, coin)``, not ``hash``. Fixture ``user_funding.json`` (a 2023
    recording).

    Raises
    ------
    ProtocolError
        If a row is malformed or its delta is not of type ``funding``.
    """
    payments = []
    for i, raw in enumerate(_list(payload, "userFunding")):
        where = f"userFunding[{i}]"
        row = _obj(raw, where)
        delta = _obj(_get(row, "delta", where), f"{where}.delta")
        if _str(delta, "type", f"{where}.delta") != "funding":
            _fail(f"{where}.delta", f"field 'type' is {delta['type']!r}, expected 'funding'")
        if is_first_dex_perp(_str(delta, "coin", f"{where}.delta")):
            payments.append(_funding_payment(delta, _int(row, "time", where), f"{where}.delta"))
    return payments


@dataclass(frozen=True, slots=True)
class AccountState:
    """``clearinghouseState`` parsed: perp positions, the USDC balance and a margin summary."""

    positions: list[Position]
    balance: Balance
    summary: AccountSummary


def _unrealized_pnl(raw: object, where: str) -> Decimal:
    position = _obj(_get(_obj(raw, where), "position", where), f"{where}.position")
    return _dec(position, "unrealizedPnl", f"{where}.position")


def _position(raw: object, ts_ms: int, where: str) -> Position | None:
    position = _obj(_get(_obj(raw, where), "position", where), f"{where}.position")
    where = f"{where}.position"
    coin = _str(position, "coin", where)
    qty = _dec(position, "szi", where)
    if not is_first_dex_perp(coin) or qty == 0:
        return None
    mark = _dec(position, "positionValue", where) / abs(qty)
    return Position(instrument_id(coin), qty, _dec(position, "entryPx", where), mark, ts_ms)


def parse_clearinghouse_state(payload: object) -> AccountState:
    """``POST /info {"type":"clearinghouseState"}`` → :class:`AccountState`.

    Position mark = ``positionValue / |szi|`` (USDC); balance ``total`` = account value minus
    unrealized P&L (collateral), ``available`` = ``withdrawable``; summary from
    ``marginSummary``. Missing coins are flat. Fixture ``clearinghouse_state.json``.

    Raises
    ------
    ProtocolError
        If a field is missing or malformed.
    """
    body = _obj(payload, "clearinghouseState")
    ts_ms = _int(body, "time", "clearinghouseState")
    rows = _list(_get(body, "assetPositions", "clearinghouseState"), "assetPositions")
    upnl = sum((_unrealized_pnl(r, f"assetPositions[{i}]") for i, r in enumerate(rows)), Decimal(0))
    where = "clearinghouseState.marginSummary"
    margin = _obj(_get(body, "marginSummary", "clearinghouseState"), where)
    equity = _dec(margin, "accountValue", where)
    gross = _dec(margin, "totalNtlPos", where)
    summary = AccountSummary(
        venue=c.VENUE,
        collateral_usd=equity - upnl,
        equity_usd=equity,
        used_margin_usd=_dec(margin, "totalMarginUsed", where),
        gross_notional_usd=gross,
        leverage=float(gross / equity) if equity else 0.0,
        ts_event_ms=ts_ms,
    )
    available = _dec(body, "withdrawable", "clearinghouseState")
    balance = Balance(c.VENUE, c.QUOTE_ASSET, equity - upnl, available, ts_ms)
    positions = (_position(r, ts_ms, f"assetPositions[{i}]") for i, r in enumerate(rows))
    return AccountState([p for p in positions if p is not None], balance, summary)


# ------------------------------------------------------------------------------ WebSocket


def ws_channel(frame: object) -> tuple[str, Any]:
    """``(channel, data)`` of a WS frame; ``data`` is ``None`` for ``pong``.

    Raises
    ------
    ProtocolError
        If ``channel`` is missing, or for an ``error`` frame (its text in the message).
    """
    body = _obj(frame, "ws frame")
    channel = _str(body, "channel", "ws frame")
    if channel == "error":
        _fail("ws frame", f"error frame: {body.get('data')!r}")
    return channel, body.get("data")


def parse_ws_active_asset_ctx(frame: object, ts_event_ms: int) -> tuple[MarkPrice, FundingRate]:
    """``activeAssetCtx`` frame → (mark with oracle as index, funding of the current hour).

    ``ts_event_ms`` is the receipt time. Fixture ``ws_active_asset_ctx_btc.json``.

    Raises
    ------
    ProtocolError
        If the frame is malformed.
    """
    data = _obj(_get(_obj(frame, "activeAssetCtx"), "data", "activeAssetCtx"), "activeAssetCtx")
    coin = _str(data, "coin", "activeAssetCtx.data")
    return parse_asset_ctx(coin, _get(data, "ctx", "activeAssetCtx.data"), ts_event_ms, "ctx")


def parse_ws_all_mids(frame: object, ts_event_ms: int) -> list[MarkPrice]:
    """``allMids`` frame → mid prices of first-dex perps as :class:`MarkPrice` (no index).

    These are **mids** (last trade when the book is empty), not the venue's mark; spot
    (``@107``, ``PURR/USDC``) and HIP-3 keys are skipped. Fixture ``ws_all_mids.json``.

    Raises
    ------
    ProtocolError
        If ``data.mids`` is not an object of decimal strings.
    """
    data = _obj(_get(_obj(frame, "allMids"), "data", "allMids"), "allMids.data")
    mids = _obj(_get(data, "mids", "allMids.data"), "allMids.data.mids")
    return [
        MarkPrice(instrument_id(coin), _float(mids, coin, "allMids.data.mids"), ts_event_ms)
        for coin in mids
        if is_first_dex_perp(coin)
    ]


def parse_ws_candle(frame: object) -> Bar:
    """``candle`` frame (one candle object) → :class:`Bar`. Fixture ``ws_candle_btc_1m.json``."""
    return parse_candle(_get(_obj(frame, "candle"), "data", "candle"), "candle.data")


def parse_ws_order_updates(frame: object) -> list[OrderAck]:
    """``orderUpdates`` frame (an array) → acks. Fixtures ``ws_order_updates_*.json``."""
    rows = _list(_get(_obj(frame, "orderUpdates"), "data", "orderUpdates"), "orderUpdates.data")
    return [parse_order_update(r, f"orderUpdates.data[{i}]") for i, r in enumerate(rows)]


def parse_ws_fills(frame: object) -> tuple[bool, list[Fill]]:
    """``userFills`` or ``user`` (userEvents) frame → ``(is_snapshot, fills)``.

    A ``user`` frame without ``fills`` (funding, liquidation, nonUserCancel) gives no fills.
    Fixtures ``ws_user_events_fills.json``, ``ws_user_fills_snapshot_empty.json``.
    """
    data = _obj(_get(_obj(frame, "ws fills"), "data", "ws fills"), "ws fills.data")
    snapshot = data.get("isSnapshot", False) is True
    if "fills" not in data:
        return snapshot, []
    return snapshot, parse_user_fills(data["fills"], "ws fills.data.fills")
