"""Deribit public market-data payloads (JSON-RPC ``result``s) → value types.

Units and times are converted here and nowhere else: IVs percent → fraction (the
``markprice.options`` channel already sends a fraction), numbers → ``Decimal`` at the order
boundary and ``float`` for market data, ``null`` prices → ``None`` (never 0). Sources: the
method pages of https://docs.deribit.com/ (``#public-get_instruments``, ``#public-ticker``,
``#public-get_index_price``, ``#public-get_delivery_prices``, ``#public-get_funding_rate_history``,
``#public-get_tradingview_chart_data``) and the channel pages (``#ticker-instrument_name-
interval``, ``#markprice-options-index_name``); fixtures in ``tests/fixtures/deribit-v2/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from venues.deribit import constants as c
from venues.deribit.fields import (
    Row,
    array_field,
    as_array,
    as_object,
    bool_field,
    dec_field,
    float_field,
    int_field,
    opt_float_field,
    payload_error,
    positive_dec_field,
    str_field,
    text_field,
)
from venues.deribit.types import DeribitInstrument, TickSizeStep
from venues.model import (
    HOUR_MS,
    Bar,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
    OptionGreeks,
    OptionMark,
    OptionTicker,
    OptionType,
    Quote,
)

PERCENT = 100.0


def perp_id(name: str) -> InstrumentId:
    """Our id of a Deribit perpetual: ``deribit:perp:BTC_USDC-PERPETUAL``."""
    return InstrumentId(c.VENUE, InstrumentKind.PERP, name)


# --- instruments ------------------------------------------------------------------------


def _steps(row: Row, where: str) -> tuple[TickSizeStep, ...]:
    raw = row.get("tick_size_steps")
    if raw is None:
        return ()
    steps = []
    for i, item in enumerate(as_array(raw, f"{where}.tick_size_steps")):
        step = as_object(item, f"{where}.tick_size_steps[{i}]")
        place = f"{where}.tick_size_steps[{i}]"
        steps.append(
            TickSizeStep(
                positive_dec_field(step, "above_price", place),
                positive_dec_field(step, "tick_size", place),
            )
        )
    return tuple(steps)


def _option_fields(row: Row, where: str) -> tuple[OptionType | None, Decimal | None]:
    if str_field(row, "kind", where) != c.KIND_OPTION:
        return None, None
    text = text_field(row, "option_type", where)
    try:
        option_type = OptionType(text)
    except ValueError:
        raise payload_error(where, f"field 'option_type' is {text!r}") from None
    return option_type, positive_dec_field(row, "strike", where)


def parse_instrument(row: Row, where: str) -> DeribitInstrument:
    """One ``get_instruments`` row (any kind) as a :class:`DeribitInstrument`.

    Raises
    ------
    ProtocolError
        On a missing or mistyped field, a non-positive size/tick/strike, or an option without
        ``option_type`` ``call``/``put``.
    """
    option_type, strike = _option_fields(row, where)
    return DeribitInstrument(
        name=text_field(row, "instrument_name", where),
        kind=text_field(row, "kind", where),
        is_inverse=str_field(row, "instrument_type", where) == c.INSTRUMENT_TYPE_INVERSE,
        base=text_field(row, "base_currency", where),
        quote=text_field(row, "quote_currency", where),
        settlement_currency=text_field(row, "settlement_currency", where),
        option_type=option_type,
        strike=strike,
        ts_expiry_ms=int_field(row, "expiration_timestamp", where),
        contract_size=positive_dec_field(row, "contract_size", where),
        tick_size=positive_dec_field(row, "tick_size", where),
        tick_size_steps=_steps(row, where),
        min_trade_amount=positive_dec_field(row, "min_trade_amount", where),
        settlement_period=str_field(row, "settlement_period", where),
        is_active=bool_field(row, "is_active", where),
        price_index=str_field(row, "price_index", where),
        maker_fee_frac=dec_field(row, "maker_commission", where),
        taker_fee_frac=dec_field(row, "taker_commission", where),
    )


def parse_instruments(result: object) -> list[DeribitInstrument]:
    """``result`` of ``public/get_instruments`` (an array of rows), in the venue's order."""
    rows = as_array(result, "get_instruments")
    return [
        parse_instrument(as_object(row, f"get_instruments[{i}]"), f"get_instruments[{i}]")
        for i, row in enumerate(rows)
    ]


def common_instrument(instrument: DeribitInstrument) -> Instrument | None:
    """The common :class:`~venues.model.Instrument` of a **linear perpetual** (amounts in base
    units: ``BTC_USDC-PERPETUAL``), else None — inverse contracts (amounts in USD) and options
    are served by the Deribit-specific methods only. Lot step and minimum are
    ``min_trade_amount``; minimum notional 0 (Deribit has none); funding hourly."""
    if instrument.is_inverse or not instrument.is_perpetual or instrument.kind != c.KIND_FUTURE:
        return None
    return Instrument(
        id=perp_id(instrument.name),
        base=instrument.base,
        quote=instrument.quote,
        tick_size=instrument.tick_size,
        lot_step=instrument.min_trade_amount,
        min_qty=instrument.min_trade_amount,
        min_notional_usd=Decimal(0),
        contract_multiplier=Decimal(1),
        funding_interval_s=c.FUNDING_INTERVAL_S,
    )


def common_instruments(instruments: Iterable[DeribitInstrument]) -> dict[InstrumentId, Instrument]:
    """:func:`common_instrument` of each row that has one, by id."""
    found = (common_instrument(i) for i in instruments)
    return {i.id: i for i in found if i is not None}


# --- tickers ----------------------------------------------------------------------------


def _iv_frac(row: Row, key: str, where: str) -> float | None:
    value = opt_float_field(row, key, where)
    return None if value is None else value / PERCENT


def parse_greeks(row: Row, where: str) -> OptionGreeks:
    """``greeks {delta, gamma, vega, theta, rho?}`` as :class:`~venues.model.OptionGreeks`."""
    return OptionGreeks(
        delta=float_field(row, "delta", where),
        gamma=float_field(row, "gamma", where),
        vega=float_field(row, "vega", where),
        theta=float_field(row, "theta", where),
        rho=opt_float_field(row, "rho", where),
    )


def parse_option_ticker(result: object, where: str = "ticker") -> OptionTicker:
    """``public/ticker`` of an option (or a ``ticker.*`` push's ``data``). Fixtures
    ``ticker_btc_option.json``, ``ws_ticker_btc_option_constructed.json``.

    Raises
    ------
    ProtocolError
        On a missing field (``greeks``, ``mark_iv`` ... a perpetual's ticker has none).
    """
    row = as_object(result, where)
    mark_iv = _iv_frac(row, "mark_iv", where)
    if mark_iv is None:
        raise payload_error(where, "field 'mark_iv' missing (not an option ticker?)")
    return OptionTicker(
        symbol=text_field(row, "instrument_name", where),
        ts_event_ms=int_field(row, "timestamp", where),
        mark_price=float_field(row, "mark_price", where),
        index_price=float_field(row, "index_price", where),
        underlying_price=float_field(row, "underlying_price", where),
        underlying_index=str_field(row, "underlying_index", where),
        mark_iv_frac=mark_iv,
        bid_iv_frac=_iv_frac(row, "bid_iv", where),
        ask_iv_frac=_iv_frac(row, "ask_iv", where),
        best_bid=opt_float_field(row, "best_bid_price", where),
        best_ask=opt_float_field(row, "best_ask_price", where),
        interest_rate=float_field(row, "interest_rate", where),
        open_interest=float_field(row, "open_interest", where),
        greeks=parse_greeks(as_object(row.get("greeks"), f"{where}.greeks"), f"{where}.greeks"),
    )


def parse_quote(result: object, instrument_id: InstrumentId, where: str = "ticker") -> Quote:
    """Best bid/ask of a ``public/ticker`` result. Fixture ``ticker_btc_perpetual.json``.

    Raises
    ------
    ProtocolError
        If the ticker names another instrument or a side of the book is empty (``null``).
    """
    row = _ticker_row(result, instrument_id, where)
    bid = opt_float_field(row, "best_bid_price", where)
    ask = opt_float_field(row, "best_ask_price", where)
    if bid is None or ask is None:
        raise payload_error(where, f"{instrument_id.symbol}: a side of the book is empty")
    return Quote(instrument_id, bid, ask, int_field(row, "timestamp", where))


def parse_mark(result: object, instrument_id: InstrumentId, where: str = "ticker") -> MarkPrice:
    """Mark and index price (quote units) of a ticker result or ``ticker.*`` push. Fixtures
    ``ticker_btc_perpetual.json``, ``ws_ticker_btc_perpetual.json``."""
    row = _ticker_row(result, instrument_id, where)
    return MarkPrice(
        instrument_id,
        float_field(row, "mark_price", where),
        int_field(row, "timestamp", where),
        opt_float_field(row, "index_price", where),
    )


def parse_predicted_funding(
    result: object, instrument_id: InstrumentId, where: str = "ticker"
) -> FundingRate:
    """Predicted funding of a perpetual from its ticker: ``funding_8h`` (the current rate
    extrapolated to 8 h) / 8 per hour, settling at the next whole hour after ``timestamp``
    (Deribit accrues funding continuously and reports it hourly in
    ``get_funding_rate_history``). Mark price attached.

    Raises
    ------
    ProtocolError
        If ``funding_8h`` is missing (not a perpetual) or the ticker names another instrument.
    """
    row = _ticker_row(result, instrument_id, where)
    ts_ms = int_field(row, "timestamp", where)
    next_ms = (ts_ms // HOUR_MS + 1) * HOUR_MS
    return FundingRate(
        instrument_id,
        float(dec_field(row, "funding_8h", where) / 8),
        c.FUNDING_INTERVAL_S,
        next_ms,
        next_ms + HOUR_MS,
        float_field(row, "mark_price", where),
    )


def _ticker_row(result: object, instrument_id: InstrumentId, where: str) -> Row:
    row = as_object(result, where)
    name = text_field(row, "instrument_name", where)
    if name != instrument_id.symbol:
        raise payload_error(where, f"ticker of {name!r}, asked for {instrument_id.symbol!r}")
    return row


def parse_index_price(result: object) -> tuple[float, float]:
    """``public/get_index_price`` → ``(index_price, estimated_delivery_price)``, USD. Fixture
    ``get_index_price.json``."""
    row = as_object(result, "get_index_price")
    where = "get_index_price"
    return float_field(row, "index_price", where), float_field(
        row, "estimated_delivery_price", where
    )


def parse_delivery_prices(result: object) -> tuple[list[tuple[str, Decimal]], int]:
    """``public/get_delivery_prices`` → ``([(date, delivery_price), ...], records_total)``:
    ``date`` the UTC day ``YYYY-MM-DD`` of the delivery (08:00 UTC), ``delivery_price`` USD
    (> 0), in the venue's order (newest first). Fixture ``get_delivery_prices.json``.

    Raises ``ProtocolError`` naming a missing or malformed field."""
    where = "get_delivery_prices"
    row = as_object(result, where)
    prices = []
    for i, item in enumerate(array_field(row, "data", where)):
        at = f"{where}.data[{i}]"
        entry = as_object(item, at)
        prices.append(
            (text_field(entry, "date", at), positive_dec_field(entry, "delivery_price", at))
        )
    return prices, int_field(row, "records_total", where)


# --- history ----------------------------------------------------------------------------


def parse_funding_history(result: object, instrument_id: InstrumentId) -> list[FundingRate]:
    """``public/get_funding_rate_history`` rows as settled hourly rates: ``interest_1h`` per
    3600 s at ``timestamp``, next settlement one hour later, oldest first. Fixture
    ``get_funding_rate_history.json``."""
    rates = []
    for i, item in enumerate(as_array(result, "get_funding_rate_history")):
        where = f"get_funding_rate_history[{i}]"
        row = as_object(item, where)
        ts_ms = int_field(row, "timestamp", where)
        rate = float_field(row, "interest_1h", where)
        rates.append(FundingRate(instrument_id, rate, c.FUNDING_INTERVAL_S, ts_ms, ts_ms + HOUR_MS))
    return sorted(rates, key=lambda r: r.ts_funding_ms)


def parse_chart_bars(result: object, instrument_id: InstrumentId, interval_s: int) -> list[Bar]:
    """``public/get_tradingview_chart_data`` columns ``ticks, open, high, low, close, volume``
    (volume in base units for a linear instrument) as bars, oldest first.

    Raises
    ------
    ProtocolError
        If the columns differ in length or ``status`` is neither ``ok`` nor ``no_data``.
    """
    where = "get_tradingview_chart_data"
    row = as_object(result, where)
    status = str_field(row, "status", where)
    if status == "no_data":
        return []
    if status != "ok":
        raise payload_error(where, f"field 'status' is {status!r}")
    names = ("ticks", "open", "high", "low", "close", "volume")
    columns: dict[str, Sequence[Any]] = {k: array_field(row, k, where) for k in names}
    if len({len(col) for col in columns.values()}) != 1:
        raise payload_error(where, "columns differ in length")
    bars = []
    for i in range(len(columns["ticks"])):
        cell = {k: columns[k][i] for k in names}
        place = f"{where}[{i}]"
        ts_ms = int_field(cell, "ticks", place)
        bars.append(
            Bar(
                instrument_id,
                ts_ms,
                ts_ms + interval_s * 1000,
                float_field(cell, "open", place),
                float_field(cell, "high", place),
                float_field(cell, "low", place),
                float_field(cell, "close", place),
                float_field(cell, "volume", place),
            )
        )
    return sorted(bars, key=lambda b: b.ts_open_ms)


# --- websocket pushes -------------------------------------------------------------------


def parse_option_marks(data: object) -> list[OptionMark]:
    """``markprice.options.{index_name}`` ``data``: ``[{instrument_name, mark_price, iv,
    timestamp}]`` with ``iv`` already a fraction (0.9 in the documented sample). Fixture
    ``ws_markprice_options.json``."""
    marks = []
    for i, item in enumerate(as_array(data, "markprice.options")):
        where = f"markprice.options[{i}]"
        row = as_object(item, where)
        marks.append(
            OptionMark(
                text_field(row, "instrument_name", where),
                float_field(row, "mark_price", where),
                float_field(row, "iv", where),
                int_field(row, "timestamp", where),
            )
        )
    return marks


def notification(frame: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``(channel, data)`` of a ``subscription`` notification, None for any other frame.

    Raises
    ------
    ProtocolError
        If a ``subscription`` frame has no ``params.channel`` string or no ``data``.
    """
    if frame.get("method") != c.SUBSCRIPTION_METHOD:
        return None
    params = as_object(frame.get("params"), "subscription.params")
    if "data" not in params:
        raise payload_error("subscription.params", "field 'data' missing")
    return text_field(params, "channel", "subscription.params"), params["data"]
