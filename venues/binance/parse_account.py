"""Binance account payloads → ``venues.model`` types: orders, fills, positions, balances,
funding fees. Quantities base units, prices quote units, ``Decimal`` throughout (order
boundary), times epoch ms. Re-exported by :mod:`venues.binance.parse`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from venues.binance.constants import VENUE
from venues.binance.fields import (
    USD_ASSETS,
    ZERO,
    as_array,
    as_object,
    dec_field,
    instrument_id,
    int_field,
    payload_error,
    raw_field,
    side_field,
    status_field,
    text_field,
    unwrap_stream,
)
from venues.errors import ProtocolError
from venues.model import (
    Balance,
    Fill,
    FundingPayment,
    FundingRate,
    InstrumentKind,
    Liquidity,
    OrderAck,
    Position,
    base_asset,
    liquidation_price_or_none,
)

# --- orders and fills --------------------------------------------------------------------


def commission_usd(
    amount: Decimal,
    asset: str | None,
    price: Decimal,
    symbol: str,
    asset_prices_usd: Mapping[str, Decimal] | None,
    where: str,
) -> Decimal:
    """Commission ``amount`` of ``asset`` → USD: USD stables 1:1; base asset × fill ``price``
    when the quote of ``symbol`` is a USD stable; else the caller-supplied USD price in
    ``asset_prices_usd`` (e.g. BNB fee discount).

    Raises
    ------
    ProtocolError
        If a non-zero commission's asset has no USD price (message names ``where``).
    """
    if amount == 0 or asset in USD_ASSETS:
        return amount
    base = base_asset(symbol)
    if asset == base and base != symbol:
        return amount * price
    if asset is not None and asset_prices_usd and asset in asset_prices_usd:
        return amount * asset_prices_usd[asset]
    raise payload_error(where, f"commission asset {asset!r} has no USD price")


def _order_ts_ms(row: Mapping[str, Any], where: str) -> int:
    for key in ("updateTime", "transactTime", "workingTime", "time"):
        if isinstance(row.get(key), int) and not isinstance(row.get(key), bool):
            return int(row[key])
    raise payload_error(where, "field 'updateTime'/'transactTime' missing")


def _avg_price(row: Mapping[str, Any], filled: Decimal, where: str) -> Decimal | None:
    if filled == 0:
        return None
    if "avgPrice" in row:  # fapi new/query
        return dec_field(row, "avgPrice", where)
    if "cumQuote" in row:  # fapi cancel responses omit avgPrice
        return dec_field(row, "cumQuote", where) / filled
    return dec_field(row, "cummulativeQuoteQty", where) / filled  # spot (sic: Binance spelling)


def parse_order(
    raw: object,
    kind: InstrumentKind,
    asset_prices_usd: Mapping[str, Decimal] | None = None,
) -> OrderAck:
    """New/query/cancel order response → :class:`OrderAck`.

    fapi (``POST|GET|DELETE /fapi/v1/order``): ``avgPrice`` and ``executedQty`` are read
    directly. Spot (``/api/v3/order``; send ``newOrderRespType=RESULT`` or ``FULL``, the
    ``ACK`` form lacks status/side/qty): the average is ``cummulativeQuoteQty / executedQty``
    and ``fills[]`` of a FULL response become taker :class:`Fill` rows with the commission
    converted to USD (see ``asset_prices_usd``, asset → USD price, for non-USD fee assets).
    ``avg_price`` is ``None`` while nothing is filled. Quantities base units.

    Raises
    ------
    ProtocolError
        If a field is missing/malformed, the status is unknown, or a commission asset has no
        USD price.

    Source: Binance USDⓈ-M "New Order"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api, "Query
    Order" and "Cancel Order" beside it; spot
    https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md "New order (TRADE)";
    fixtures ``new_order_limit_recorded.json``, ``query_order.json``, ``cancel_order.json`` (usdm),
    ``new_order_full.json``, ``new_order_result.json``, ``query_order.json`` (spot).
    """
    row = as_object(raw, "order")
    symbol = text_field(row, "symbol", "order")
    where = f"order[{symbol}]"
    filled = dec_field(row, "executedQty", where)
    ack = OrderAck(
        client_order_id=text_field(row, "clientOrderId", where),
        venue_order_id=str(int_field(row, "orderId", where)),
        instrument_id=instrument_id(symbol, kind),
        side=side_field(row, "side", where),
        status=status_field(row, "status", where),
        qty=dec_field(row, "origQty", where),
        filled_qty=filled,
        avg_price=_avg_price(row, filled, where),
        ts_event_ms=_order_ts_ms(row, where),
    )
    fills = tuple(
        _spot_fill(item, ack, asset_prices_usd, f"{where}.fills[]")
        for item in as_array(row.get("fills", []), f"{where}.fills")
    )
    return replace(ack, fills=fills) if fills else ack


def _spot_fill(
    raw: object, ack: OrderAck, prices: Mapping[str, Decimal] | None, where: str
) -> Fill:
    row = as_object(raw, where)
    price = dec_field(row, "price", where)
    commission_asset = text_field(row, "commissionAsset", where)
    symbol = ack.instrument_id.symbol
    return Fill(
        instrument_id=ack.instrument_id,
        client_order_id=ack.client_order_id,
        venue_order_id=ack.venue_order_id,
        trade_id=str(int_field(row, "tradeId", where)),
        side=ack.side,
        qty=dec_field(row, "qty", where),
        price=price,
        fee_usd=commission_usd(
            dec_field(row, "commission", where), commission_asset, price, symbol, prices, where
        ),
        liquidity=Liquidity.TAKER,  # FULL fills are the immediate matches of the new order
        ts_event_ms=ack.ts_event_ms,
    )


def event_type(frame: object) -> str:
    """Event name (``e``) of a user-data frame; unwraps spot's ``{"subscriptionId",
    "event"}`` and the combined-stream envelope. Raises ``ProtocolError`` if absent."""
    data = unwrap_stream(frame)
    if isinstance(data, Mapping) and "event" in data and "subscriptionId" in data:
        data = data["event"]
    return text_field(as_object(data, "user event"), "e", "user event")


# Keys of the two order events: fapi ORDER_TRADE_UPDATE (inside "o"), spot executionReport.
_EVENT_KINDS = {"ORDER_TRADE_UPDATE": InstrumentKind.PERP, "executionReport": InstrumentKind.SPOT}


def _order_event_body(frame: object) -> tuple[Mapping[str, Any], InstrumentKind]:
    data = unwrap_stream(frame)
    if isinstance(data, Mapping) and "event" in data and "subscriptionId" in data:
        data = data["event"]
    event = as_object(data, "order event")
    name = event.get("e")
    if name not in _EVENT_KINDS:
        raise payload_error("order event", f"field 'e' is {name!r}, not an order event")
    kind = _EVENT_KINDS[name]
    if kind is InstrumentKind.SPOT:
        return event, kind
    return as_object(raw_field(event, "o", "ORDER_TRADE_UPDATE"), "ORDER_TRADE_UPDATE.o"), kind


def _event_avg(body: Mapping[str, Any], filled: Decimal, where: str) -> Decimal | None:
    if filled == 0:
        return None
    if "ap" in body:  # fapi average price
        return dec_field(body, "ap", where)
    return dec_field(body, "Z", where) / filled  # spot cumulative quote qty


def event_fee_assets(frame: object) -> set[str]:
    """Commission assets of an order event's fill that need a USD price from outside the
    event: not a USD stable, not the symbol's base asset, a non-zero amount (the BNB fee
    discount). ``set()`` for anything else, malformed frames included (the parse that
    follows names the problem).

    Source: Binance USDⓈ-M "Event: Order Update"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Order-Update
    / spot https://github.com/binance/binance-spot-api-docs/blob/master/user-data-stream.md "Order
    Update", fields ``x``, ``n``, ``N``, ``s``.
    """
    try:
        body, _ = _order_event_body(frame)
    except ProtocolError:
        return set()
    asset, symbol = body.get("N"), body.get("s")
    if body.get("x") != "TRADE" or not isinstance(asset, str) or not isinstance(symbol, str):
        return set()
    if asset in USD_ASSETS or asset == base_asset(symbol):
        return set()
    try:
        if Decimal(str(body.get("n"))) == 0:
            return set()
    except ArithmeticError:
        pass  # malformed amount: let the parse say so
    return {asset}


def parse_order_event(
    frame: object, asset_prices_usd: Mapping[str, Decimal] | None = None
) -> OrderAck:
    """User-data order event → :class:`OrderAck`, with the :class:`Fill` when ``x`` is
    ``TRADE``.

    fapi ``ORDER_TRADE_UPDATE`` (body in ``o``) and spot ``executionReport`` (wrapped as
    ``{"subscriptionId", "event"}``): ``c`` client id (spot cancels: ``C`` holds the
    original id), ``i`` order id, ``X`` status, ``q`` qty, ``z`` filled, ``l``/``L`` last fill
    qty/price, ``n``/``N`` commission/asset, ``t`` trade id, ``m`` maker, ``T`` trade time ms.

    Raises
    ------
    ProtocolError
        If the frame is not an order event or a field is malformed.

    Source: Binance USDⓈ-M "Event: Order Update"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Order-Update,
    spot https://github.com/binance/binance-spot-api-docs/blob/master/user-data-stream.md "Order
    Update"; fixtures ``ws_user_order_update_new.json`` (usdm), ``user_data_execution_report.json``
    (spot).
    """
    body, kind = _order_event_body(frame)
    symbol = text_field(body, "s", "order event")
    where = f"order event[{symbol}]"
    filled = dec_field(body, "z", where)
    original_id = body.get("C")
    ack = OrderAck(
        client_order_id=original_id if original_id else text_field(body, "c", where),
        venue_order_id=str(int_field(body, "i", where)),
        instrument_id=instrument_id(symbol, kind),
        side=side_field(body, "S", where),
        status=status_field(body, "X", where),
        qty=dec_field(body, "q", where),
        filled_qty=filled,
        avg_price=_event_avg(body, filled, where),
        ts_event_ms=int_field(body, "T", where),
        reject_reason=_reject_reason(body),
    )
    if body.get("x") != "TRADE":
        return ack
    return replace(ack, fills=(_event_fill(body, ack, asset_prices_usd, where),))


def _reject_reason(body: Mapping[str, Any]) -> str | None:
    reason = body.get("r")  # spot only; "NONE" when not rejected
    return reason if isinstance(reason, str) and reason != "NONE" else None


def _event_fill(
    body: Mapping[str, Any], ack: OrderAck, prices: Mapping[str, Decimal] | None, where: str
) -> Fill:
    price = dec_field(body, "L", where)
    commission = dec_field(body, "n", where) if body.get("n") is not None else ZERO
    asset = body.get("N")
    return Fill(
        instrument_id=ack.instrument_id,
        client_order_id=ack.client_order_id,
        venue_order_id=ack.venue_order_id,
        trade_id=str(int_field(body, "t", where)),
        side=ack.side,
        qty=dec_field(body, "l", where),
        price=price,
        fee_usd=commission_usd(
            commission, asset if isinstance(asset, str) else None, price,
            ack.instrument_id.symbol, prices, where,
        ),
        liquidity=Liquidity.MAKER if body.get("m") is True else Liquidity.TAKER,
        ts_event_ms=ack.ts_event_ms,
    )  # fmt: skip


# --- account -----------------------------------------------------------------------------


def parse_position_risk(payload: object) -> list[Position]:
    """``GET /fapi/v3/positionRisk`` → positions with a non-zero ``positionAmt``.

    ``positionAmt`` is signed base units. In hedge mode a symbol has a ``LONG`` and a
    ``SHORT`` row and yields two positions (summing ``qty`` gives the net); the agent
    expects one-way mode (``positionSide`` ``BOTH``). ``liquidationPrice`` (USDT) becomes
    ``Position.liquidation_price``; Binance sends ``"0"`` when the position cannot be
    liquidated (None then, and when the field is absent).

    Raises
    ------
    ProtocolError
        If a row is malformed.

    Source: Binance USDⓈ-M "Position Information V3"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-Information-V3;
    fixtures ``position_risk_v3_one_way.json``, ``position_risk_v3_hedge.json``.
    """
    out = []
    for item in as_array(payload, "positionRisk"):
        row = as_object(item, "positionRisk[]")
        symbol = text_field(row, "symbol", "positionRisk[]")
        where = f"positionRisk[{symbol}]"
        qty = dec_field(row, "positionAmt", where)
        if qty != 0:
            out.append(
                Position(
                    instrument_id=instrument_id(symbol, InstrumentKind.PERP),
                    qty=qty,
                    entry_price=dec_field(row, "entryPrice", where),
                    mark_price=dec_field(row, "markPrice", where),
                    ts_event_ms=int_field(row, "updateTime", where),
                    liquidation_price=_liquidation_price(row, where),
                )
            )
    return out


def _liquidation_price(row: Mapping[str, Any], where: str) -> Decimal | None:
    if row.get("liquidationPrice") is None:
        return None
    return liquidation_price_or_none(dec_field(row, "liquidationPrice", where))


def parse_futures_balances(payload: object) -> list[Balance]:
    """``GET /fapi/v3/balance`` → balances: ``total`` = ``balance`` (wallet), ``available``
    = ``availableBalance``, asset units, stamped ``updateTime``.

    Raises ``ProtocolError`` on a malformed row. Source: Binance USDⓈ-M "Futures Account Balance V3"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Futures-Account-Balance-V3;
    fixture ``balance_v3.json``.
    """
    out = []
    for item in as_array(payload, "balance"):
        row = as_object(item, "balance[]")
        asset = text_field(row, "asset", "balance[]")
        where = f"balance[{asset}]"
        out.append(
            Balance(
                venue=VENUE,
                asset=asset,
                total=dec_field(row, "balance", where),
                available=dec_field(row, "availableBalance", where),
                ts_event_ms=int_field(row, "updateTime", where),
            )
        )
    return out


def parse_spot_balances(payload: object) -> list[Balance]:
    """``GET /api/v3/account`` → balances: ``total`` = ``free + locked``, ``available`` =
    ``free``, asset units, stamped with the account ``updateTime``.

    Raises ``ProtocolError`` on a malformed field. Source: Binance spot
    https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md "Account information
    (USER_DATA)"; fixture ``account.json``.
    """
    account = as_object(payload, "account")
    ts_ms = int_field(account, "updateTime", "account")
    out = []
    for item in as_array(raw_field(account, "balances", "account"), "account.balances"):
        row = as_object(item, "account.balances[]")
        asset = text_field(row, "asset", "account.balances[]")
        where = f"account.balances[{asset}]"
        free = dec_field(row, "free", where)
        total = free + dec_field(row, "locked", where)
        out.append(Balance(VENUE, asset, total=total, available=free, ts_event_ms=ts_ms))
    return out


def funding_fee_rows(payload: object) -> list[Mapping[str, Any]]:
    """Rows of ``GET /fapi/v1/income`` whose ``incomeType`` is ``FUNDING_FEE``.

    Dedupe key across pages is ``(incomeType, tranId)``. Raises ``ProtocolError`` if the
    payload is not an array of objects. Fixture ``income_history.json``.
    """
    rows = [as_object(item, "income[]") for item in as_array(payload, "income")]
    return [row for row in rows if row.get("incomeType") == "FUNDING_FEE"]


def parse_funding_fee(raw: object, funding: FundingRate) -> FundingPayment:
    """One ``FUNDING_FEE`` income row + the settled rate it paid → :class:`FundingPayment`.

    ``income`` is signed from the account's view (negative = paid), USD (USDT/USDC 1:1).
    The income row carries neither the position nor the mark, so they come from the settled
    ``funding`` (``/fapi/v1/fundingRate`` row at the same ``fundingTime``, with its
    ``mark_price``): ``position_qty = -income / (rate × mark)``, base units, rounded to
    1e-8; ``0`` when the rate is 0.

    Raises
    ------
    ProtocolError
        If the row is malformed, is not a ``FUNDING_FEE``, its symbol or asset does not
        match, or ``funding`` has no mark price.

    Source: Binance USDⓈ-M "Get Income History"
    https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Get-Income-History;
    fixture ``income_history.json``.
    """
    row = as_object(raw, "income[]")
    where = f"income[{row.get('tranId')}]"
    if row.get("incomeType") != "FUNDING_FEE":
        raise payload_error(
            where, f"field 'incomeType' is {row.get('incomeType')!r}, not FUNDING_FEE"
        )
    if text_field(row, "symbol", where) != funding.instrument_id.symbol:
        raise payload_error(where, f"field 'symbol' does not match {funding.instrument_id.symbol}")
    if text_field(row, "asset", where) not in USD_ASSETS:
        raise payload_error(where, f"field 'asset' {row['asset']!r} is not a USD asset")
    if funding.mark_price is None:
        raise payload_error(where, "settled funding rate has no mark price")
    amount = dec_field(row, "income", where)
    mark = Decimal(str(funding.mark_price))
    per_unit = Decimal(str(funding.rate)) * mark
    qty = (-amount / per_unit).quantize(Decimal("1e-8")) if per_unit != 0 else ZERO
    return FundingPayment(
        instrument_id=funding.instrument_id,
        ts_funding_ms=int_field(row, "time", where),
        rate=funding.rate,
        interval_s=funding.interval_s,
        position_qty=qty,
        mark_price=mark,
        amount_usd=amount,
    )
