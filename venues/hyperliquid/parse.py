"""Hyperliquid payloads → ``venues.model`` value types. Units and times are converted here only.

Hyperliquid sends prices and sizes as decimal strings (coins, USDC), times and ids as JSON
numbers (epoch ms; ``oid`` above 2^32). Perps are named by coin (``BTC``); builder-deployed
(HIP-3) perps are ``dex:COIN`` and spot markets ``@107`` / ``PURR/USDC`` — account-level
endpoints mix them in, so rows for anything but a first-dex perp are skipped (see
:func:`is_first_dex_perp`). Malformed payloads raise :class:`venues.errors.ProtocolError`
naming the field; venue refusals map onto the ``venues.errors`` tree (:func:`exchange_error`,
:func:`order_error`).

Source: Hyperliquid "Info endpoint"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint and its
"Perpetuals" page
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals (market
data, account state), "Exchange endpoint"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint, "Websocket"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket, "Error responses"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/error-responses; fixtures in
``tests/fixtures/hyperliquid/`` named per function.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from venues.hyperliquid import constants as c
from venues.hyperliquid.fields import (
    as_array,
    as_object,
    client_order_id_from_cloid,
    dec_field,
    float_field,
    instrument_id,
    int_field,
    is_first_dex_perp,
    payload_error,
    raw_field,
    str_field,
)
from venues.hyperliquid.parse_account import (
    AccountState,
    parse_cancel_response,
    parse_clearinghouse_state,
    parse_fill,
    parse_order_response,
    parse_order_status,
    parse_order_update,
    parse_user_fills,
    parse_user_funding,
    raise_for_rejection,
)
from venues.hyperliquid.parse_errors import exchange_error, http_error, order_error
from venues.model import (
    HOUR_MS,
    Bar,
    Fill,
    FundingRate,
    Instrument,
    InstrumentId,
    MarkPrice,
    OrderAck,
)

__all__ = [
    "AccountState",
    "MarketSnapshot",
    "PerpAsset",
    "client_order_id_from_cloid",
    "exchange_error",
    "http_error",
    "instrument_id",
    "is_first_dex_perp",
    "next_funding_ms",
    "order_error",
    "parse_asset_ctx",
    "parse_cancel_response",
    "parse_candle",
    "parse_candle_snapshot",
    "parse_clearinghouse_state",
    "parse_fill",
    "parse_funding_history",
    "parse_meta",
    "parse_meta_and_asset_ctxs",
    "parse_order_response",
    "parse_order_status",
    "parse_order_update",
    "parse_user_fills",
    "parse_user_funding",
    "parse_ws_active_asset_ctx",
    "parse_ws_all_mids",
    "parse_ws_candle",
    "parse_ws_fills",
    "parse_ws_order_updates",
    "price_tick",
    "raise_for_rejection",
    "round_price",
    "ws_channel",
]


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
    entry = as_object(raw, where)
    coin = str_field(entry, "name", where)
    sz_decimals = int_field(entry, "szDecimals", where)
    if not 0 <= sz_decimals <= c.PERP_PRICE_MAX_DECIMALS:
        raise payload_error(where, f"field 'szDecimals' out of range: {sz_decimals}")
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
    leverage = int_field(entry, "maxLeverage", where)
    return PerpAsset(index, coin, sz_decimals, leverage, delisted, instrument)


def parse_meta(payload: object) -> list[PerpAsset]:
    """``POST /info {"type":"meta"}`` → the perp universe in index order (fixture ``meta.json``).

    HIP-3 names are skipped, delisted coins kept (``is_delisted``) so indices stay true.

    Raises
    ------
    ProtocolError
        If ``universe`` or an entry is malformed.
    """
    universe = as_array(raw_field(as_object(payload, "meta"), "universe", "meta"), "meta.universe")
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
    fields = as_object(ctx, where)
    iid = instrument_id(coin)
    mark_px = float_field(fields, "markPx", where)
    mark = MarkPrice(iid, mark_px, ts_event_ms, float_field(fields, "oraclePx", where))
    ts_funding_ms = next_funding_ms(ts_event_ms)
    funding = FundingRate(
        instrument_id=iid,
        rate=float_field(fields, "funding", where),
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
    pair = as_array(payload, "metaAndAssetCtxs")
    if len(pair) != 2:
        raise payload_error("metaAndAssetCtxs", f"expected [meta, ctxs], got {len(pair)} elements")
    meta = as_object(pair[0], "metaAndAssetCtxs[0]")
    ctxs = as_array(pair[1], "metaAndAssetCtxs[1]")
    if len(ctxs) != len(as_array(raw_field(meta, "universe", "meta"), "meta.universe")):
        raise payload_error("metaAndAssetCtxs", "ctxs and universe differ in length")
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
        mark_px = dec_field(as_object(ctxs[asset.asset], where), "markPx", where)
        if mark_px <= 0:
            raise payload_error(where, f"field 'markPx' is not positive: {mark_px}")
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
    for i, raw in enumerate(as_array(payload, "fundingHistory")):
        where = f"fundingHistory[{i}]"
        row = as_object(raw, where)
        ts_ms = int_field(row, "time", where) // HOUR_MS * HOUR_MS
        rates.append(
            FundingRate(
                instrument_id=instrument_id(str_field(row, "coin", where)),
                rate=float_field(row, "fundingRate", where),
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
    row = as_object(raw, where)
    ts_open_ms, ts_last_ms = int_field(row, "t", where), int_field(row, "T", where)
    if ts_last_ms < ts_open_ms:
        raise payload_error(where, f"field 'T' {ts_last_ms} precedes 't' {ts_open_ms}")
    return Bar(
        instrument_id=instrument_id(str_field(row, "s", where)),
        ts_open_ms=ts_open_ms,
        ts_close_ms=ts_last_ms + 1,
        open=float_field(row, "o", where),
        high=float_field(row, "h", where),
        low=float_field(row, "l", where),
        close=float_field(row, "c", where),
        volume=float_field(row, "v", where),
    )


def parse_candle_snapshot(payload: object) -> list[Bar]:
    """``POST /info {"type":"candleSnapshot"}`` → bars, ascending; the last may be forming.

    Raises
    ------
    ProtocolError
        If the payload is not an array or a candle is malformed (see :func:`parse_candle`).
    """
    rows = as_array(payload, "candleSnapshot")
    return [parse_candle(raw, f"candleSnapshot[{i}]") for i, raw in enumerate(rows)]


# ------------------------------------------------------------------------------ WebSocket


def ws_channel(frame: object) -> tuple[str, Any]:
    """``(channel, data)`` of a WS frame; ``data`` is ``None`` for ``pong``.

    Raises
    ------
    ProtocolError
        If ``channel`` is missing, or for an ``error`` frame (its text in the message).
    """
    body = as_object(frame, "ws frame")
    channel = str_field(body, "channel", "ws frame")
    if channel == "error":
        raise payload_error("ws frame", f"error frame: {body.get('data')!r}")
    return channel, body.get("data")


def parse_ws_active_asset_ctx(frame: object, ts_event_ms: int) -> tuple[MarkPrice, FundingRate]:
    """``activeAssetCtx`` frame → (mark with oracle as index, funding of the current hour).

    ``ts_event_ms`` is the receipt time. Fixture ``ws_active_asset_ctx_btc.json``.

    Raises
    ------
    ProtocolError
        If the frame is malformed.
    """
    data = as_object(
        raw_field(as_object(frame, "activeAssetCtx"), "data", "activeAssetCtx"), "activeAssetCtx"
    )
    coin = str_field(data, "coin", "activeAssetCtx.data")
    return parse_asset_ctx(coin, raw_field(data, "ctx", "activeAssetCtx.data"), ts_event_ms, "ctx")


def parse_ws_all_mids(frame: object, ts_event_ms: int) -> list[MarkPrice]:
    """``allMids`` frame → mid prices of first-dex perps as :class:`MarkPrice` (no index).

    These are **mids** (last trade when the book is empty), not the venue's mark; spot
    (``@107``, ``PURR/USDC``) and HIP-3 keys are skipped. Fixture ``ws_all_mids.json``.

    Raises
    ------
    ProtocolError
        If ``data.mids`` is not an object of decimal strings.
    """
    data = as_object(raw_field(as_object(frame, "allMids"), "data", "allMids"), "allMids.data")
    mids = as_object(raw_field(data, "mids", "allMids.data"), "allMids.data.mids")
    return [
        MarkPrice(instrument_id(coin), float_field(mids, coin, "allMids.data.mids"), ts_event_ms)
        for coin in mids
        if is_first_dex_perp(coin)
    ]


def parse_ws_candle(frame: object) -> Bar:
    """``candle`` frame (one candle object) → :class:`Bar`. Fixture ``ws_candle_btc_1m.json``."""
    return parse_candle(raw_field(as_object(frame, "candle"), "data", "candle"), "candle.data")


def parse_ws_order_updates(frame: object) -> list[OrderAck]:
    """``orderUpdates`` frame (an array) → acks. Fixtures ``ws_order_updates_*.json``."""
    rows = as_array(
        raw_field(as_object(frame, "orderUpdates"), "data", "orderUpdates"), "orderUpdates.data"
    )
    return [parse_order_update(r, f"orderUpdates.data[{i}]") for i, r in enumerate(rows)]


def parse_ws_fills(frame: object) -> tuple[bool, list[Fill]]:
    """``userFills`` or ``user`` (userEvents) frame → ``(is_snapshot, fills)``.

    A ``user`` frame without ``fills`` (funding, liquidation, nonUserCancel) gives no fills.
    Fixtures ``ws_user_events_fills.json``, ``ws_user_fills_snapshot_empty.json``.
    """
    data = as_object(raw_field(as_object(frame, "ws fills"), "data", "ws fills"), "ws fills.data")
    snapshot = data.get("isSnapshot", False) is True
    if "fills" not in data:
        return snapshot, []
    return snapshot, parse_user_fills(data["fills"], "ws fills.data.fills")
