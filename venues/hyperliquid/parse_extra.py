"""Hyperliquid payloads the venue client needs beyond :mod:`venues.hyperliquid.parse`: the
``l2Book`` top of book, REST ``allMids``, ``openOrders`` rows and the ``userEvents``
funding event. Malformed input raises :class:`~venues.errors.ProtocolError` naming the field.

Source: Hyperliquid "Info endpoint"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint (allMids,
openOrders, "L2 book snapshot"), its "Perpetuals" page
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
(userFunding), "Subscriptions"
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions
(userEvents ``funding``); l2Book shape from "L2 book snapshot": ``{"coin", "time", "levels":
[[bids…], [asks…]]}``, each level ``{"px", "sz", "n"}``, best first. No l2Book payload is recorded
in the fixtures.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from venues.hyperliquid.fields import (
    as_array,
    as_object,
    dec_field,
    instrument_id,
    int_field,
    is_first_dex_perp,
    payload_error,
    raw_field,
    str_field,
)
from venues.hyperliquid.parse_account import parse_order_update, parse_user_funding
from venues.model import FundingPayment, InstrumentId, OrderAck, Quote


def parse_l2_book_top(payload: object) -> Quote:
    """``POST /info {"type":"l2Book","coin"}`` → best bid/ask (USDC) at the book's ``time``.

    Raises
    ------
    ProtocolError
        If the shape is wrong or a side of the book is empty (no quote to give).
    """
    book = as_object(payload, "l2Book")
    coin = str_field(book, "coin", "l2Book")
    levels = as_array(raw_field(book, "levels", "l2Book"), "l2Book.levels")
    if len(levels) != 2:
        raise payload_error("l2Book.levels", f"expected [bids, asks], got {len(levels)} sides")
    tops = []
    for side, name in zip(levels, ("bids", "asks"), strict=True):
        rows = as_array(side, f"l2Book.{name}")
        if not rows:
            raise payload_error(f"l2Book.{name}", f"empty side for {coin}: no quote")
        tops.append(
            float(dec_field(as_object(rows[0], f"l2Book.{name}[0]"), "px", f"l2Book.{name}[0]"))
        )
    return Quote(instrument_id(coin), tops[0], tops[1], int_field(book, "time", "l2Book"))


def parse_all_mids(payload: object) -> dict[InstrumentId, Decimal]:
    """``POST /info {"type":"allMids"}`` (``{coin: px}``) → mids of first-dex perps, USDC."""
    mids = as_object(payload, "allMids")
    return {
        instrument_id(coin): dec_field(mids, coin, "allMids")
        for coin in mids
        if is_first_dex_perp(coin)
    }


def parse_open_orders(payload: object) -> list[OrderAck]:
    """``POST /info {"type":"openOrders"}`` rows → NEW/PARTIALLY_FILLED acks of first-dex
    perps (``ts_event_ms`` = the order's ``timestamp``). Fixture ``open_orders.json``."""
    acks = []
    for i, raw in enumerate(as_array(payload, "openOrders")):
        where = f"openOrders[{i}]"
        row = as_object(raw, where)
        if not is_first_dex_perp(str_field(row, "coin", where)):
            continue
        entry: dict[str, Any] = {
            "order": row,
            "status": "open",
            "statusTimestamp": int_field(row, "timestamp", where),
        }
        acks.append(parse_order_update(entry, where))
    return acks


def parse_ws_user_event_funding(frame: object) -> FundingPayment | None:
    """``user`` (userEvents) frame with ``funding`` ``{time, coin, usdc, szi, fundingRate}``
    → :class:`FundingPayment` (same conventions as ``parse_user_funding``); ``None`` for
    other user events or non-perp coins."""
    data = as_object(
        raw_field(as_object(frame, "user event"), "data", "user event"), "user event.data"
    )
    if "funding" not in data:
        return None
    funding = as_object(data["funding"], "user event.data.funding")
    row = {
        "time": int_field(funding, "time", "user event.data.funding"),
        "delta": {"type": "funding", **funding},
    }
    payments = parse_user_funding([row])
    return payments[0] if payments else None
