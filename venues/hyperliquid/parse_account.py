"""Hyperliquid order and account payloads → ``venues.model`` types: order/cancel responses,
order status, fills, funding payments, clearinghouse state. Sizes in coins, money in USDC.
Re-exported by :mod:`venues.hyperliquid.parse`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from venues.errors import OrderNotFound, VenueError
from venues.hyperliquid import constants as c
from venues.hyperliquid.fields import (
    as_array,
    as_object,
    client_order_id_from_cloid,
    dec_field,
    instrument_id,
    int_field,
    is_first_dex_perp,
    payload_error,
    raw_field,
    side_field,
    str_field,
)
from venues.hyperliquid.parse_errors import exchange_error, order_error
from venues.model import (
    AccountSummary,
    Balance,
    Fill,
    FundingPayment,
    Liquidity,
    OrderAck,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    TimeInForce,
    liquidation_price_or_none,
)

# ------------------------------------------------------------------------------ orders


def _statuses(payload: object, kind: str, expected: int) -> Sequence[Any]:
    error = exchange_error(payload)
    if error is not None:
        raise error
    where = f"{kind} response"
    response = as_object(raw_field(as_object(payload, where), "response", where), where)
    data = as_object(raw_field(response, "data", where), where)
    statuses = as_array(raw_field(data, "statuses", where), f"{where}.statuses")
    if len(statuses) != expected:
        raise payload_error(where, f"{len(statuses)} statuses for {expected} requests")
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
        raise payload_error(
            where, f"field 'cloid' {echoed!r} does not match {order.client_order_id!r}"
        )


def _order_outcome(raw: object, order: OrderRequest, ts_ms: int, where: str) -> OrderAck:
    if isinstance(raw, str):  # TP/SL children: "waitingForFill" / "waitingForTrigger"
        return _ack(order, "", OrderStatus.NEW, ts_ms)
    entry = as_object(raw, where)
    if "error" in entry:
        text = str_field(entry, "error", where)
        error = order_error(text, order.client_order_id)
        code = error.code or type(error).__name__
        return _ack(order, "", OrderStatus.REJECTED, ts_ms, reject=(code, text))
    if "resting" in entry:
        resting = as_object(entry["resting"], f"{where}.resting")
        _check_cloid(resting, order, f"{where}.resting")
        return _ack(
            order, str(int_field(resting, "oid", f"{where}.resting")), OrderStatus.NEW, ts_ms
        )
    if "filled" in entry:
        where = f"{where}.filled"
        filled = as_object(entry["filled"], where)
        _check_cloid(filled, order, where)
        total = dec_field(filled, "totalSz", where)
        oid = str(int_field(filled, "oid", where))
        avg_px = dec_field(filled, "avgPx", where)
        return _ack(order, oid, _filled_status(order, total), ts_ms, filled=(total, avg_px))
    raise payload_error(where, "status has none of 'resting', 'filled', 'error'")


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
            results.append(order_error(str_field(as_object(raw, where), "error", where), coid))
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
    raise payload_error("order status", f"unknown status {raw!r}")


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
    entry = as_object(raw, where)
    order = as_object(raw_field(entry, "order", where), f"{where}.order")
    remaining = dec_field(order, "sz", f"{where}.order")
    original = dec_field(order, "origSz", f"{where}.order") if "origSz" in order else remaining
    raw_status = str_field(entry, "status", where)
    status = _order_status(raw_status, remaining, original)
    rejected = status is OrderStatus.REJECTED
    return OrderAck(
        client_order_id=client_order_id_from_cloid(order.get("cloid")),
        venue_order_id=str(int_field(order, "oid", f"{where}.order")),
        instrument_id=instrument_id(str_field(order, "coin", f"{where}.order")),
        side=side_field(order, f"{where}.order"),
        status=status,
        qty=original,
        filled_qty=original - remaining,
        avg_price=None,
        ts_event_ms=int_field(entry, "statusTimestamp", where),
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
    body = as_object(payload, "orderStatus")
    status = str_field(body, "status", "orderStatus")
    if status == "unknownOid":
        raise OrderNotFound(f"unknown order {client_order_id!r}", venue=c.VENUE)
    if status != "order":
        raise payload_error(
            "orderStatus", f"field 'status' is {status!r}, expected 'order' or 'unknownOid'"
        )
    return parse_order_update(raw_field(body, "order", "orderStatus"), "orderStatus.order")


# ------------------------------------------------------------------------------ account


def parse_fill(raw: object, where: str = "fill") -> Fill:
    """One fill → :class:`Fill`: ``crossed`` → taker; ``fee`` USDC, negative = rebate.

    Raises
    ------
    ProtocolError
        If a field is missing or malformed.
    """
    row = as_object(raw, where)
    crossed = raw_field(row, "crossed", where)
    if not isinstance(crossed, bool):
        raise payload_error(where, f"field 'crossed' is not a boolean: {crossed!r}")
    return Fill(
        instrument_id=instrument_id(str_field(row, "coin", where)),
        client_order_id=client_order_id_from_cloid(row.get("cloid")),
        venue_order_id=str(int_field(row, "oid", where)),
        trade_id=str(int_field(row, "tid", where)),
        side=side_field(row, where),
        qty=dec_field(row, "sz", where),
        price=dec_field(row, "px", where),
        fee_usd=dec_field(row, "fee", where),
        liquidity=Liquidity.TAKER if crossed else Liquidity.MAKER,
        ts_event_ms=int_field(row, "time", where),
    )


def parse_user_fills(payload: object, where: str = "userFills") -> list[Fill]:
    """``userFills`` rows (also WS ``userFills``/``user`` fills) → fills of first-dex perps.

    Rows of HIP-3 and spot coins are skipped. Dedupe on ``(coin, tid, time)`` downstream.
    Fixtures ``user_fills.json``, ``ws_user_events_fills.json``.
    """
    fills = []
    for i, raw in enumerate(as_array(payload, where)):
        row = as_object(raw, f"{where}[{i}]")
        if is_first_dex_perp(str_field(row, "coin", f"{where}[{i}]")):
            fills.append(parse_fill(row, f"{where}[{i}]"))
    return fills


def _funding_payment(row: Mapping[str, Any], ts_ms: int, where: str) -> FundingPayment:
    qty = dec_field(row, "szi", where)
    hourly = dec_field(row, "fundingRate", where)
    samples = row.get("nSamples") or 1
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise payload_error(where, f"field 'nSamples' is not a positive integer: {samples!r}")
    amount = dec_field(row, "usdc", where)
    rate = hourly * samples
    oracle = -amount / (rate * qty) if rate and qty else Decimal(0)
    return FundingPayment(
        instrument_id=instrument_id(str_field(row, "coin", where)),
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
    for i, raw in enumerate(as_array(payload, "userFunding")):
        where = f"userFunding[{i}]"
        row = as_object(raw, where)
        delta = as_object(raw_field(row, "delta", where), f"{where}.delta")
        if str_field(delta, "type", f"{where}.delta") != "funding":
            raise payload_error(
                f"{where}.delta", f"field 'type' is {delta['type']!r}, expected 'funding'"
            )
        if is_first_dex_perp(str_field(delta, "coin", f"{where}.delta")):
            payments.append(
                _funding_payment(delta, int_field(row, "time", where), f"{where}.delta")
            )
    return payments


@dataclass(frozen=True, slots=True)
class AccountState:
    """``clearinghouseState`` parsed: perp positions, the USDC balance and a margin summary."""

    positions: list[Position]
    balance: Balance
    summary: AccountSummary


def _unrealized_pnl(raw: object, where: str) -> Decimal:
    position = as_object(raw_field(as_object(raw, where), "position", where), f"{where}.position")
    return dec_field(position, "unrealizedPnl", f"{where}.position")


def _position(raw: object, ts_ms: int, where: str) -> Position | None:
    position = as_object(raw_field(as_object(raw, where), "position", where), f"{where}.position")
    where = f"{where}.position"
    coin = str_field(position, "coin", where)
    qty = dec_field(position, "szi", where)
    if not is_first_dex_perp(coin) or qty == 0:
        return None
    mark = dec_field(position, "positionValue", where) / abs(qty)
    entry = dec_field(position, "entryPx", where)
    liquidation = None
    if position.get("liquidationPx") is not None:  # null or absent: cannot be liquidated
        liquidation = liquidation_price_or_none(dec_field(position, "liquidationPx", where))
    return Position(instrument_id(coin), qty, entry, mark, ts_ms, liquidation)


def parse_clearinghouse_state(payload: object) -> AccountState:
    """``POST /info {"type":"clearinghouseState"}`` → :class:`AccountState`.

    Position mark = ``positionValue / |szi|`` (USDC), liquidation price ``liquidationPx``
    (USDC; ``null`` when the position cannot be liquidated → None; GitBook "Info endpoint →
    Perpetuals → Retrieve user's perpetuals account summary",
    https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals);
    balance ``total`` = account value minus
    unrealized P&L (collateral), ``available`` = ``withdrawable``; summary from
    ``marginSummary``. Missing coins are flat. Fixture ``clearinghouse_state.json``.

    Raises
    ------
    ProtocolError
        If a field is missing or malformed.
    """
    body = as_object(payload, "clearinghouseState")
    ts_ms = int_field(body, "time", "clearinghouseState")
    rows = as_array(raw_field(body, "assetPositions", "clearinghouseState"), "assetPositions")
    upnl = sum((_unrealized_pnl(r, f"assetPositions[{i}]") for i, r in enumerate(rows)), Decimal(0))
    where = "clearinghouseState.marginSummary"
    margin = as_object(raw_field(body, "marginSummary", "clearinghouseState"), where)
    equity = dec_field(margin, "accountValue", where)
    gross = dec_field(margin, "totalNtlPos", where)
    summary = AccountSummary(
        venue=c.VENUE,
        collateral_usd=equity - upnl,
        equity_usd=equity,
        used_margin_usd=dec_field(margin, "totalMarginUsed", where),
        gross_notional_usd=gross,
        leverage=float(gross / equity) if equity else 0.0,
        ts_event_ms=ts_ms,
    )
    available = dec_field(body, "withdrawable", "clearinghouseState")
    balance = Balance(c.VENUE, c.QUOTE_ASSET, equity - upnl, available, ts_ms)
    positions = (_position(r, ts_ms, f"assetPositions[{i}]") for i, r in enumerate(rows))
    return AccountState([p for p in positions if p is not None], balance, summary)
