"""Hyperliquid payloads the venue client needs beyond :mod:`venues.hyperliquid.parse`: the
``l2Book`` top of book, REST ``allMids``, ``openOrders`` rows and the ``userEvents``
funding event. Malformed input raises :class:`~venues.errors.ProtocolError` naming the field.

Source: ``/work/shared/venues/hyperliquid.md`` §3 (allMids, l2Book weight), §4 (openOrders,
userFunding), §5 (userEvents ``funding``); l2Book shape from the GitBook "Info endpoint → L2
book snapshot": ``{"coin", "time", "levels": [[bids…], [asks…]]}``, each level
``{"px", "sz", "n"}``, best first. No l2Book payload is recorded in the fixture pack.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from venues.hyperliquid._fields import (
    _dec,
    _fail,
    _get,
    _int,
    _list,
    _obj,
    _str,
    instrument_id,
    is_first_dex_perp,
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
    book = _obj(payload, "l2Book")
    coin = _str(book, "coin", "l2Book")
    levels = _list(_get(book, "levels", "l2Book"), "l2Book.levels")
    if len(levels) != 2:
        _fail("l2Book.levels", f"expected [bids, asks], got {len(levels)} sides")
    tops = []
    for side, name in zip(levels, ("bids", "asks"), strict=True):
        rows = _list(side, f"l2Book.{name}")
        if not rows:
            _fail(f"l2Book.{name}", f"empty side for {coin}: no quote")
        tops.append(float(_dec(_obj(rows[0], f"l2Book.{name}[0]"), "px", f"l2Book.{name}[0]")))
    return Quote(instrument_id(coin), tops[0], tops[1], _int(book, "time", "l2Book"))


def parse_all_mids(payload: object) -> dict[InstrumentId, Decimal]:
    """``POST /info {"type":"allMids"}`` (``{coin: px}``) → mids of first-dex perps, USDC."""
    mids = _obj(payload, "allMids")
    return {
        instrument_id(coin): _dec(mids, coin, "allMids") for coin in mids if is_first_dex_perp(coin)
    }


def parse_open_orders(payload: object) -> list[OrderAck]:
    """``POST /info {"type":"openOrders"}`` rows → NEW/PARTIALLY_FILLED acks of first-dex
    perps (``ts_event_ms`` = the order's ``timestamp``). Fixture ``open_orders.json``."""
    acks = []
    for i, raw in enumerate(_list(payload, "openOrders")):
        where = f"openOrders[{i}]"
        row = _obj(raw, where)
        if not is_first_dex_perp(_str(row, "coin", where)):
            continue
        entry: dict[str, Any] = {
            "order": row,
            "status": "open",
            "statusTimestamp": _int(row, "timestamp", where),
        }
        acks.append(parse_order_update(entry, where))
    return acks


def parse_ws_user_event_funding(frame: object) -> FundingPayment | None:
    """``user`` (userEvents) frame with ``funding`` ``{time, coin, usdc, szi, fundingRate}``
    → :class:`FundingPayment` (same conventions as ``parse_user_funding``); ``None`` for
    other user events or non-perp coins."""
    data = _obj(_get(_obj(frame, "user event"), "data", "user event"), "user event.data")
    if "funding" not in data:
        return None
    funding = _obj(data["funding"], "user event.data.funding")
    row = {
        "time": _int(funding, "time", "user event.data.funding"),
        "delta": {"type": "funding", **funding},
    }
    payments = parse_user_funding([row])
    return payments[0] if payments else None
