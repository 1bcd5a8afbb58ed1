"""Bybit v5 WebSocket frames: the ``tickers`` snapshot/delta merger, private ``order`` rows,
and op acknowledgements (auth, subscribe, pong).

Linear ``tickers.{symbol}`` sends one ``snapshot`` then ``delta`` frames carrying only the changed
fields (absent key = unchanged), so a per-symbol state is merged here; spot tickers are
snapshot-only. Source: Bybit v5 "Ticker"
https://bybit-exchange.github.io/docs/v5/websocket/public/ticker and "Connect"
https://bybit-exchange.github.io/docs/v5/ws/connect (authentication, ping/pong); fixtures
``ws_tickers_linear_snapshot.json``, ``ws_tickers_spot_snapshot.json``, ``ws_auth_success.json``,
``ws_pong_*.json``, ``ws_subscribe_ack_*.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from venues.bybit.constants import (
    CATEGORY_LINEAR,
    CATEGORY_SPOT,
    VENUE,
    WS_OP_AUTH,
    WS_OP_PING,
    WS_OP_PONG,
    WS_TOPIC_ORDER,
)
from venues.bybit.fields import Row, as_array, as_object, int_field, payload_error, text_field
from venues.bybit.parse import funding_from_ticker, mark_from_ticker
from venues.bybit.parse_account import order_from_row
from venues.errors import AuthError
from venues.model import FundingRate, MarkPrice, OrderAck

_TICKERS_PREFIX = "tickers."
_SNAPSHOT = "snapshot"
_DELTA = "delta"


class TickerMerger:
    """Per-symbol state of the ``tickers`` topic: snapshots replace it, deltas update it.

    Call :meth:`reset` after a reconnect (the server sends a fresh snapshot).
    """

    def __init__(self) -> None:
        self._state: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        """Forget every symbol (on reconnect)."""
        self._state.clear()

    def _symbol(self, message: Row, data: Row) -> str:
        topic = text_field(message, "topic", "ws.tickers")
        if not topic.startswith(_TICKERS_PREFIX) or len(topic) == len(_TICKERS_PREFIX):
            raise payload_error("ws.tickers", f"field 'topic' is not a tickers topic: {topic!r}")
        symbol = topic[len(_TICKERS_PREFIX) :]
        if data.get("symbol", symbol) != symbol:
            raise payload_error(
                "ws.tickers", f"data.symbol {data.get('symbol')!r} != topic {topic!r}"
            )
        return symbol

    def apply(self, message: object) -> Row:
        """Merge one ``tickers`` frame and return the symbol's full current fields.

        Raises
        ------
        ProtocolError
            If the frame is malformed, its ``type`` is unknown, or a delta arrives before the
            symbol's snapshot.
        """
        frame = as_object(message, "ws.tickers")
        data = as_object(frame.get("data"), "ws.tickers.data")
        symbol = self._symbol(frame, data)
        kind = frame.get("type")
        if kind == _SNAPSHOT:
            self._state[symbol] = {**data, "symbol": symbol}
        elif kind == _DELTA:
            if symbol not in self._state:
                raise payload_error("ws.tickers", f"delta for {symbol!r} before its snapshot")
            self._state[symbol].update(data)
        else:
            raise payload_error("ws.tickers", f"field 'type' has unknown value {kind!r}")
        return dict(self._state[symbol])

    def linear(self, message: object) -> tuple[FundingRate, MarkPrice]:
        """Merge a linear ``tickers`` frame → (predicted funding, mark price) from the state.

        The mark is stamped with the frame's ``ts`` (ms).

        Raises
        ------
        ProtocolError
            As :meth:`apply`, or if the merged state lacks a funding / mark field.
        """
        state = self.apply(message)
        ts_ms = int_field(as_object(message, "ws.tickers"), "ts", "ws.tickers")
        where = f"ws.tickers[{state['symbol']}]"
        return funding_from_ticker(state, where), mark_from_ticker(state, where, ts_ms)


def parse_ws_orders(message: object) -> list[OrderAck]:
    """A private ``order`` frame → one :class:`OrderAck` per linear/spot row.

    Rows of other categories (inverse, option) on the same account are skipped.

    Raises
    ------
    ProtocolError
        If the frame is not an ``order`` frame or a kept row is malformed.
    """
    frame = as_object(message, "ws.order")
    if frame.get("topic") != WS_TOPIC_ORDER:
        raise payload_error(
            "ws.order", f"field 'topic' is {frame.get('topic')!r}, expected 'order'"
        )
    out = []
    for i, raw in enumerate(as_array(frame.get("data"), "ws.order.data")):
        row = as_object(raw, f"ws.order[{i}]")
        category = row.get("category")
        if category in (CATEGORY_LINEAR, CATEGORY_SPOT):
            out.append(order_from_row(row, str(category), f"ws.order[{i}]"))
    return out


def is_pong(message: object) -> bool:
    """True for either pong shape: public ``{"op": "ping", "ret_msg": "pong"}`` or private
    ``{"op": "pong", ...}`` (fixtures ``ws_pong_public_*.json``, ``ws_pong_private.json``)."""
    if not isinstance(message, Mapping):
        return False
    op = message.get("op")
    return op == WS_OP_PONG or (op == WS_OP_PING and message.get("ret_msg") == "pong")


def check_ws_ack(message: object, op: str) -> None:
    """Check the acknowledgement of ``op`` (``auth`` or ``subscribe``).

    Raises
    ------
    AuthError
        If an ``auth`` ack has ``success: false`` (bad key or signature; fatal).
    ProtocolError
        If the frame is not the ack of ``op`` or a subscribe failed (``ret_msg`` names why).
    """
    frame = as_object(message, f"ws.{op}")
    if frame.get("op") != op:
        raise payload_error(f"ws.{op}", f"field 'op' is {frame.get('op')!r}, expected {op!r}")
    if frame.get("success") is True:
        return
    reason = str(frame.get("ret_msg", ""))
    if op == WS_OP_AUTH:
        raise AuthError(f"bybit websocket auth failed: {reason}", venue=VENUE)
    raise payload_error(f"ws.{op}", f"{op} failed: {reason!r}")
