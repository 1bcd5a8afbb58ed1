"""Purple Flea payloads → ``venues.model`` value types (units and times converted here only).

Shapes documented for the Purple Flea API (as described in the project's SEEDS, see
``venues/purpleflea/API_NOTES.md``) are parsed as documented: ``/prices`` → ``{prices: [{symbol,
price}]}``, ``/perps/funding-rates`` → ``{rates: [{symbol, venue, rate}]}``, ``/perps/basis`` →
``{spot_price, venues: [{venue, basis_pct}]}``, ``/perps/order`` → ``fill_price``, ``/orders/pair``
→ ``pair_id``, ``/portfolio/risk`` → ``portfolio_beta``. Every other field is an assumption listed
in ``venues/purpleflea/API_NOTES.md`` §3 (one place to change once real payloads are recorded).
Fixtures (constructed, not recorded): ``tests/fixtures/purpleflea/``.

Every parser raises ``ProtocolError`` naming the place and field on malformed input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from venues.model import (
    Fill,
    FundingRate,
    InstrumentId,
    InstrumentKind,
    Liquidity,
    OrderAck,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
)
from venues.pairs import PairAck
from venues.purpleflea import constants as c
from venues.purpleflea.fields import (
    array_field,
    as_object,
    dec_field,
    float_field,
    payload_error,
    positive_dec_field,
    text_field,
    time_ms_field,
)

_MS_PER_S = 1_000
_ZERO = Decimal(0)
_SIDES = {c.SIDE_BUY: Side.BUY, c.SIDE_SELL: Side.SELL}
_POSITION_SIGNS = {c.PAIR_LEG_LONG: 1, c.PAIR_LEG_SHORT: -1}


def instrument_id(kind: InstrumentKind, symbol: str) -> InstrumentId:
    """Our id of a Purple Flea ticker/symbol (spot: ``/orders`` tickers; perp: ``/perps``)."""
    return InstrumentId(c.VENUE, kind, symbol)


# --- market data ----------------------------------------------------------------------------


def parse_prices(payload: object) -> dict[str, float]:
    """``GET /prices`` ``{prices: [{symbol, price}]}`` → symbol → spot price (quote units).

    Fixture ``prices.json``. Raises ``ProtocolError`` on a malformed row or a price ≤ 0.
    """
    rows = array_field(as_object(payload, "prices"), "prices", "prices")
    prices: dict[str, float] = {}
    for i, raw in enumerate(rows):
        where = f"prices[{i}]"
        row = as_object(raw, where)
        price = float_field(row, "price", where)
        if price <= 0:
            raise payload_error(where, f"price must be positive, got {price}")
        prices[text_field(row, "symbol", where)] = price
    return prices


def parse_funding_rates(payload: object) -> dict[tuple[str, str], float]:
    """``GET /perps/funding-rates`` ``{rates: [{symbol, venue, rate}]}`` → ``(symbol,
    venue)`` → rate, a fraction per funding interval (ASSUMPTION: not a percentage; the
    interval is not reported — API_NOTES.md §4). Fixture ``funding_rates.json``."""
    rows = array_field(as_object(payload, "funding-rates"), "rates", "funding-rates")
    rates: dict[tuple[str, str], float] = {}
    for i, raw in enumerate(rows):
        where = f"funding-rates.rates[{i}]"
        row = as_object(raw, where)
        key = (text_field(row, "symbol", where), text_field(row, "venue", where))
        rates[key] = float_field(row, "rate", where)
    return rates


def next_settlement_ms(now_ms: int, interval_s: int) -> int:
    """The first multiple of ``interval_s`` (since the epoch, UTC) after ``now_ms``, epoch ms.

    ASSUMPTION (API_NOTES.md §4): settlements on UTC multiples of the interval, as on the
    venues Purple Flea routes to (Hyperliquid hourly, Binance/Bybit 8 h at 00/08/16 UTC).
    """
    interval_ms = interval_s * _MS_PER_S
    return (now_ms // interval_ms + 1) * interval_ms


def funding_rate(iid: InstrumentId, rate: float, interval_s: int, now_ms: int) -> FundingRate:
    """A predicted ``FundingRate`` settling at the next UTC multiple of ``interval_s``.

    ``interval_s`` comes from configuration (the API does not report it), seconds > 0.
    """
    if interval_s <= 0:
        raise ValueError(f"funding interval_s must be positive, got {interval_s}")
    ts_funding_ms = next_settlement_ms(now_ms, interval_s)
    return FundingRate(iid, rate, interval_s, ts_funding_ms, ts_funding_ms + interval_s * 1_000)


def parse_basis_perp_price(payload: object, venue: str) -> float:
    """``GET /perps/basis`` ``{spot_price, venues: [{venue, basis_pct}]}`` → the perp price on
    ``venue``, ``spot_price × (1 + basis_pct / 100)``, quote units.

    ASSUMPTION (API_NOTES.md §4): ``basis_pct`` = (perp − spot) / spot in percent. Fixture
    ``basis_btc.json``. Raises ``ProtocolError`` when ``venue`` has no row.
    """
    body = as_object(payload, "basis")
    spot = float_field(body, "spot_price", "basis")
    if spot <= 0:
        raise payload_error("basis", f"spot_price must be positive, got {spot}")
    for i, raw in enumerate(array_field(body, "venues", "basis")):
        row = as_object(raw, f"basis.venues[{i}]")
        if row.get("venue") == venue:
            return spot * (1.0 + float_field(row, "basis_pct", f"basis.venues[{i}]") / c.PERCENT)
    raise payload_error("basis", f"no row for venue {venue!r}")


# --- orders -------------------------------------------------------------------------------


def _optional_order_id(body: Mapping[str, Any], where: str) -> str:
    value = body.get(c.ORDER_ID_FIELD)
    if value is None:
        return ""  # the documented answer carries no order id (API_NOTES.md §3)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise payload_error(where, f"field {c.ORDER_ID_FIELD!r} must be a string, got {value!r}")
    return str(value)


def parse_order_answer(payload: object, request: OrderRequest, ts_ms: int) -> OrderAck:
    """Answer of ``POST /orders`` or ``POST /perps/order`` → ``OrderAck``.

    Documented: ``fill_price`` (perps). ASSUMED (API_NOTES.md §3): the same for ``/orders``;
    ``fill_price`` set means the whole quantity filled at that price (one fill, taker, fee
    not reported → 0); ``null`` on a limit order means it rests (status NEW); optional
    ``order_id``. ``ts_ms`` is our receipt time (the answer carries none), epoch ms.
    Fixtures ``order_spot.json``, ``perp_order.json``.

    Raises ``ProtocolError`` if ``fill_price`` is missing (or null on a market order).
    """
    where = f"order {request.client_order_id}"
    body = as_object(payload, where)
    if "fill_price" not in body:
        raise payload_error(where, "field 'fill_price' missing")
    order_id = _optional_order_id(body, where)
    if body["fill_price"] is None and request.order_type is OrderType.LIMIT:
        return OrderAck(
            request.client_order_id, order_id, request.instrument_id, request.side,
            OrderStatus.NEW, request.qty, _ZERO, None, ts_ms,
        )  # fmt: skip
    price = positive_dec_field(body, "fill_price", where)
    fill = Fill(
        request.instrument_id, request.client_order_id, order_id, order_id, request.side,
        request.qty, price, _ZERO, Liquidity.TAKER, ts_ms, request.reference_price,
    )  # fmt: skip
    return OrderAck(
        request.client_order_id, order_id, request.instrument_id, request.side,
        OrderStatus.FILLED, request.qty, request.qty, price, ts_ms, (fill,),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Leg:
    ticker: str
    side: Side
    qty: Decimal
    price: Decimal


def _pair_legs(body: Mapping[str, Any], where: str) -> dict[str, _Leg]:
    rows = array_field(body, "legs", where)
    legs: dict[str, _Leg] = {}
    for i, raw in enumerate(rows):
        at = f"{where}.legs[{i}]"
        row = as_object(raw, at)
        pair_leg = text_field(row, "pair_leg", at)
        side = _SIDES.get(text_field(row, "side", at))
        if pair_leg not in _POSITION_SIGNS or side is None or pair_leg in legs:
            raise payload_error(at, f"bad or repeated pair_leg/side: {row.get('pair_leg')!r}")
        price = positive_dec_field(row, "fill_price", at)
        legs[pair_leg] = _Leg(
            text_field(row, "ticker", at), side, positive_dec_field(row, "quantity", at), price
        )
    if set(legs) != set(_POSITION_SIGNS):
        raise payload_error(where, f"expected one long and one short leg, got {sorted(legs)}")
    return legs


def _leg_ack(leg: _Leg, client_order_id: str, venue_order_id: str, ts_ms: int) -> OrderAck:
    iid = instrument_id(InstrumentKind.SPOT, leg.ticker)
    fill = Fill(
        iid, client_order_id, venue_order_id, venue_order_id, leg.side, leg.qty, leg.price,
        _ZERO, Liquidity.TAKER, ts_ms,
    )  # fmt: skip
    return OrderAck(
        client_order_id, venue_order_id, iid, leg.side, OrderStatus.FILLED, leg.qty, leg.qty,
        leg.price, ts_ms, (fill,),
    )  # fmt: skip


def _check_leg(leg: _Leg, request: OrderRequest, where: str) -> None:
    sent = (request.instrument_id.symbol, request.side, request.qty)
    if (leg.ticker, leg.side, leg.qty) != sent:
        got = (leg.ticker, leg.side.value, leg.qty)
        raise payload_error(
            where, f"leg {got} does not match the leg sent {sent}: not an atomic fill"
        )


def parse_pair_answer(
    payload: object,
    pair_client_id: str,
    long_request: OrderRequest,
    short_request: OrderRequest,
    strategy_tag: str,
) -> PairAck:
    """Answer of ``POST /orders/pair`` → ``PairAck``, both legs filled at one timestamp.

    Documented: ``pair_id``; both legs fill at the same timestamp. ASSUMED (API_NOTES.md
    §3): ``filled_at`` (epoch ms or ISO-8601) and ``legs: [{ticker, side, quantity,
    fill_price, pair_leg}]`` (the request's leg fields plus ``fill_price``). Each leg ack's
    venue order id is ``<pair_id>/<pair_leg>``. Fixture ``pair_order.json``.

    Raises ``ProtocolError`` when a field is missing or a leg differs from the one sent
    (an atomic pair fills both legs in full or not at all).
    """
    where = f"pair {pair_client_id}"
    body = as_object(payload, where)
    pair_id = text_field(body, "pair_id", where)
    ts_ms = time_ms_field(body, c.PAIR_FILLED_AT_FIELD, where)
    legs = _pair_legs(body, where)
    _check_leg(legs[c.PAIR_LEG_LONG], long_request, where)
    _check_leg(legs[c.PAIR_LEG_SHORT], short_request, where)
    long_ack = _leg_ack(
        legs[c.PAIR_LEG_LONG], long_request.client_order_id, f"{pair_id}/long", ts_ms
    )
    short_ack = _leg_ack(
        legs[c.PAIR_LEG_SHORT], short_request.client_order_id, f"{pair_id}/short", ts_ms
    )
    return PairAck(pair_client_id, pair_id, strategy_tag, long_ack, short_ack, ts_ms)


def close_client_order_id(pair_id: str, pair_leg: str) -> str:
    """Our id of the closing order of one leg: ``close/<pair_id>/<pair_leg>`` (the venue
    generates the closing orders; this id exists only in our records)."""
    return f"close/{pair_id}/{pair_leg}"


def parse_pair_close(payload: object, pair_id: str, pair_client_id: str) -> PairAck:
    """Answer of ``POST /orders/pair/{pair_id}/close`` → ``PairAck`` of the closing fills.

    ASSUMED (API_NOTES.md §3): the same shape as the open answer; the long leg closes with a
    sell and the short leg with a buy. Fixture ``pair_close.json``.

    Raises ``ProtocolError`` on a malformed answer, another ``pair_id`` or a leg closing
    on the wrong side.
    """
    where = f"pair close {pair_id}"
    body = as_object(payload, where)
    if text_field(body, "pair_id", where) != pair_id:
        raise payload_error(where, f"answer is for pair {body.get('pair_id')!r}")
    ts_ms = time_ms_field(body, c.PAIR_FILLED_AT_FIELD, where)
    legs = _pair_legs(body, where)
    if legs[c.PAIR_LEG_LONG].side is not Side.SELL or legs[c.PAIR_LEG_SHORT].side is not Side.BUY:
        raise payload_error(
            where, "the long leg must close with a sell and the short leg with a buy"
        )
    acks = [
        _leg_ack(legs[leg], close_client_order_id(pair_id, leg), f"{pair_id}/{leg}/close", ts_ms)
        for leg in (c.PAIR_LEG_LONG, c.PAIR_LEG_SHORT)
    ]
    return PairAck(pair_client_id, pair_id, "", acks[0], acks[1], ts_ms)


# --- portfolio ------------------------------------------------------------------------------


def parse_positions(
    payload: object, perp_venue: str, ts_ms: int
) -> tuple[list[Position], list[str]]:
    """``GET /portfolio/positions`` → (positions, venues of perp rows that were skipped).

    ASSUMED shape (API_NOTES.md §3; the project's SEEDS document only "open positions"):
    ``{positions: [{symbol, venue, side: long|short, size, entry_price, mark_price}]}``; a row
    whose ``venue`` is null is a spot holding, otherwise a perp on that venue. Perp rows of
    another venue than ``perp_venue`` cannot be named by our instrument ids and are skipped
    (their venues returned so the caller can warn). Quantities signed base units; ``ts_ms``
    our receipt time. Fixture ``positions.json``.
    """
    rows = array_field(as_object(payload, "positions"), "positions", "positions")
    positions: list[Position] = []
    skipped: list[str] = []
    for i, raw in enumerate(rows):
        where = f"positions[{i}]"
        row = as_object(raw, where)
        venue = row.get("venue")
        if venue is not None and venue != perp_venue:
            skipped.append(str(venue))
            continue
        kind = InstrumentKind.SPOT if venue is None else InstrumentKind.PERP
        sign = _POSITION_SIGNS.get(text_field(row, "side", where))
        if sign is None:
            raise payload_error(
                where, f"field 'side' must be long or short, got {row.get('side')!r}"
            )
        positions.append(
            Position(
                instrument_id(kind, text_field(row, "symbol", where)),
                sign * dec_field(row, "size", where).copy_abs(),
                dec_field(row, "entry_price", where),
                dec_field(row, "mark_price", where),
                ts_ms,
            )
        )
    return positions, skipped


@dataclass(frozen=True, slots=True)
class PortfolioRisk:
    """``GET /portfolio/risk``: the documented ``portfolio_beta`` (portfolio beta to the
    market, dimensionless) and every other numeric top-level metric as reported (names and
    units as the venue sends them — undocumented). ``ts_event_ms`` our receipt time."""

    portfolio_beta: float
    ts_event_ms: int
    metrics: dict[str, float] = field(default_factory=dict)


def parse_portfolio_risk(payload: object, ts_ms: int) -> PortfolioRisk:
    """``GET /portfolio/risk`` → ``PortfolioRisk``. Fixture ``risk.json``.

    Raises ``ProtocolError`` when ``portfolio_beta`` is missing or not a number.
    """
    body = as_object(payload, "risk")
    beta = float_field(body, "portfolio_beta", "risk")
    metrics = {
        key: float(value)
        for key, value in body.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    return PortfolioRisk(beta, ts_ms, metrics)


def error_message(payload: object) -> str | None:
    """The message of an error body, or ``None``.

    ASSUMED (API_NOTES.md §5): ``{"error": "<message>"}`` (purpleflea.com's own client reads
    ``err.error``), also accepted as ``{"error": {"message": ...}}`` or ``{"message": ...}``.
    """
    if not isinstance(payload, Mapping):
        return None
    error = payload.get("error")
    if isinstance(error, Mapping):
        error = error.get("message")
    if isinstance(error, str) and error:
        return error
    message = payload.get("message")
    return message if isinstance(message, str) and message else None
