"""USD-M account trades (``GET /fapi/v1/userTrades``) → the :class:`~venues.model.Fill` rows
of one order.

fapi's ``newOrderRespType`` knows only ``ACK`` and ``RESULT`` (Binance USDⓈ-M "New Order",
https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api), so unlike
spot's ``FULL`` answer a filled perp order comes back without its fills; the account trade list
keyed by ``orderId`` supplies them. Row shape ("Account Trade List (USER_DATA)",
https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Account-Trade-List;
no recorded fixture): ``{buyer, commission, commissionAsset, id, maker, orderId, price, qty,
quoteQty, realizedPnl, side, positionSide, symbol, time}``, prices and quantities as strings,
``time`` epoch ms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal

from venues.binance.fields import (
    as_array,
    as_object,
    dec_field,
    int_field,
    payload_error,
    text_field,
)
from venues.binance.parse_account import commission_usd
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
    for item in as_array(payload, "userTrades"):
        row = as_object(item, "userTrades[]")
        where = f"userTrades[{row.get('id')}]"
        if str(int_field(row, "orderId", where)) != ack.venue_order_id:
            continue
        if text_field(row, "symbol", where) != ack.instrument_id.symbol:
            raise payload_error(where, f"field 'symbol' is not {ack.instrument_id.symbol}")
        price = dec_field(row, "price", where)
        fee = commission_usd(
            dec_field(row, "commission", where),
            text_field(row, "commissionAsset", where),
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
                trade_id=str(int_field(row, "id", where)),
                side=ack.side,
                qty=dec_field(row, "qty", where),
                price=price,
                fee_usd=fee,
                liquidity=Liquidity.MAKER if row.get("maker") is True else Liquidity.TAKER,
                ts_event_ms=int_field(row, "time", where),
            )
        )
    fills.sort(key=lambda f: (f.ts_event_ms, int(f.trade_id)))
    if sum((f.qty for f in fills), Decimal(0)) > ack.filled_qty:
        raise payload_error("userTrades", f"fills exceed the filled quantity {ack.filled_qty}")
    return replace(ack, fills=tuple(fills))
