"""USD-M account trades (``GET /fapi/v1/userTrades``) → the :class:`~venues.model.Fill` rows
of one order.

fapi's ``newOrderRespType`` knows only ``ACK`` and ``RESULT`` (binance-usdm.md §4), so unlike
spot's ``FULL`` answer a filled perp order comes back without its fills; the account trade
list keyed by ``orderId`` supplies them. Row shape (official "Account Trade List (USER_DATA)"
page; no recorded fixture in the pack): ``{buyer, commission, commissionAsset, id, maker,
orderId, price, qty, quoteQty, realizedPnl, side, positionSide, symbol, time}``, prices and
quantities as strings, ``time`` epoch ms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal

from venues.binance._fields import _bad, _dec, _int, _list, _obj, _str
from venues.binance.parse_account import _fee_usd
from venues.model import Fill, Liquidity, OrderAck


def attach_user_trades(
    ack: OrderAck, payload: object, asset_prices_usd: Mapping[str, Decimal] | None = None
) -> OrderAck:
    """``ack`` with ``fills`` built from the ``userTrades`` rows of its order, oldest first.

    Rows of other orders are ignored. ``qty`` base units, ``price`` quote units, ``fee_usd``
    the ``commission`` (USD stables 1:1, the base asset × price, other assets through
    ``asset_prices_usd``), ``liquidity`` from ``maker``, ``ts_event_ms`` the trade ``time``.

    Raises
    ------
    ProtocolError
        If a row is malformed, names another symbol, or the fills add up to more than the
        order's ``filled_qty``.
    """
    fills = []
    for item in _list(payload, "userTrades"):
        row = _obj(item, "userTrades[]")
        where = f"userTrades[{row.get('id')}]"
        if str(_int(row, "orderId", where)) != ack.venue_order_id:
            continue
        if _str(row, "symbol", where) != ack.instrument_id.symbol:
            raise _bad(where, f"field 'symbol' is not {ack.instrument_id.symbol}")
        price = _dec(row, "price", where)
        fee = _fee_usd(
            _dec(row, "commission", where),
            _str(row, "commissionAsset", where),
            price,
            ack.instrument_id.symbol,
            asset_prices_usd,
            where,
        )
        fills.append(
            Fill(
                instrument_id=ack.instrument_id,
                client_order_id=ack.client_order_id,
                venue_order_id=ack.venue_order_id,
                trade_id=str(_int(row, "id", where)),
                side=ack.side,
                qty=_dec(row, "qty", where),
                price=price,
                fee_usd=fee,
                liquidity=Liquidity.MAKER if row.get("maker") is True else Liquidity.TAKER,
                ts_event_ms=_int(row, "time", where),
            )
        )
    fills.sort(key=lambda f: (f.ts_event_ms, int(f.trade_id)))
    if sum((f.qty for f in fills), Decimal(0)) > ack.filled_qty:
        raise _bad("userTrades", f"fills exceed the filled quantity {ack.filled_qty}")
    return replace(ack, fills=tuple(fills))
