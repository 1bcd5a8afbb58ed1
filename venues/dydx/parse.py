"""dYdX v4 Indexer payloads → value types; units and times are converted here and nowhere else.

Every function raises :class:`~venues.errors.ProtocolError` (never ``KeyError``/``TypeError``) on a
payload that does not match the Indexer API documentation
https://github.com/dydxprotocol/v4-chain/blob/main/indexer/services/comlink/public/api-documentation.md
(GetPerpetualMarkets, GetHistoricalFunding, GetCandles); fixtures in ``tests/fixtures/dydx-v4/``.

Units (same document; dYdX docs https://docs.dydx.exchange "Funding" and "Quantums", source
https://github.com/dydxprotocol/v4-documentation ``docs/pages/concepts/trading/``): sizes in base
units, prices USD(C) per base unit, every funding rate a **1-hour** rate (``interval_s = 3600``),
times ISO strings → epoch ms UTC. Tick and lot step are computed from the integer fields
(``subticksPerTick``, ``stepBaseQuantums``, ``atomicResolution``, ``quantumConversionExponent``);
the venue derives its ``tickSize``/``stepSize`` strings from them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from venues.dydx import constants as c
from venues.dydx.fields import (
    as_array,
    as_object,
    digits_field,
    float_field,
    int_field,
    iso_ms_field,
    payload_error,
    positive_float_field,
    raw_field,
    text_field,
)
from venues.model import (
    HOUR_MS,
    Bar,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    MarkPrice,
)

_ZERO = Decimal(0)
_TEN = Decimal(10)


def perp_id(ticker: str) -> InstrumentId:
    """``InstrumentId("dydx", PERP, ticker)``; the symbol is the dYdX ticker (``BTC-USD``)."""
    return InstrumentId(c.VENUE, InstrumentKind.PERP, ticker)


def next_hour_ms(now_ms: int) -> int:
    """The first top of the hour strictly after ``now_ms`` (epoch ms): the next funding tick."""
    return (now_ms // HOUR_MS + 1) * HOUR_MS


# --- markets ------------------------------------------------------------------------------


def markets_map(payload: object, where: str = "perpetualMarkets") -> Mapping[str, Any]:
    """The ``{"markets": {ticker: market}}`` map of ``GET /v4/perpetualMarkets`` (also the
    ``v4_markets`` snapshot ``contents``). Fixture ``perpetual_markets_btc_eth_sol.json``."""
    return as_object(raw_field(as_object(payload, where), "markets", where), f"{where}.markets")


def tick_size(market: Mapping[str, Any], where: str) -> Decimal:
    """``subticksPerTick × 10^(QCE − AR + USDC AR)``, quote units (docs "Quantums")."""
    exponent = (
        int_field(market, "quantumConversionExponent", where)
        - int_field(market, "atomicResolution", where)
        + c.USDC_ATOMIC_RESOLUTION
    )
    subticks = int_field(market, "subticksPerTick", where)
    if subticks <= 0:
        raise payload_error(where, f"subticksPerTick must be positive, got {subticks}")
    return (Decimal(subticks) * _TEN**exponent).normalize()


def lot_step(market: Mapping[str, Any], where: str) -> Decimal:
    """``stepBaseQuantums × 10^atomicResolution``, base units (docs "Quantums")."""
    quantums = int_field(market, "stepBaseQuantums", where)
    if quantums <= 0:
        raise payload_error(where, f"stepBaseQuantums must be positive, got {quantums}")
    return (Decimal(quantums) * _TEN ** int_field(market, "atomicResolution", where)).normalize()


def parse_market(market: object, ticker: str) -> Instrument:
    """One perpetual market → :class:`Instrument`.

    ``min_qty`` is one lot step (the smallest order dYdX accepts is one ``stepBaseQuantums``),
    ``min_notional_usd`` 0 (dYdX has none), ``funding_interval_s`` 3600, quote ``USDC``.
    """
    where = f"markets[{ticker}]"
    raw = as_object(market, where)
    symbol = text_field(raw, "ticker", where)
    base, sep, _quote = symbol.partition("-")
    if not sep or not base:
        raise payload_error(where, f"ticker {symbol!r} is not BASE-QUOTE")
    step = lot_step(raw, where)
    return Instrument(
        id=perp_id(symbol),
        base=base,
        quote=c.QUOTE_ASSET,
        tick_size=tick_size(raw, where),
        lot_step=step,
        min_qty=step,
        min_notional_usd=_ZERO,
        funding_interval_s=c.FUNDING_INTERVAL_S,
    )


def parse_perpetual_markets(payload: object) -> list[Instrument]:
    """Listed markets (status in ``LISTED_STATUSES``) of ``GET /v4/perpetualMarkets``."""
    out = []
    for ticker, market in markets_map(payload).items():
        status = text_field(as_object(market, f"markets[{ticker}]"), "status", f"markets[{ticker}]")
        if status in c.LISTED_STATUSES:
            out.append(parse_market(market, ticker))
    return out


def parse_next_funding(market: object, ticker: str, now_ms: int) -> FundingRate:
    """``nextFundingRate`` (1-hour rate, settles at the next top of the hour after ``now_ms``) with
    the ``oraclePrice`` as mark price. Source: dYdX docs "Funding"
    (https://github.com/dydxprotocol/v4-documentation,
    ``docs/pages/concepts/trading/funding.mdx``)."""
    where = f"markets[{ticker}]"
    raw = as_object(market, where)
    ts_funding_ms = next_hour_ms(now_ms)
    return FundingRate(
        instrument_id=perp_id(text_field(raw, "ticker", where)),
        rate=float_field(raw, "nextFundingRate", where),
        interval_s=c.FUNDING_INTERVAL_S,
        ts_funding_ms=ts_funding_ms,
        ts_next_funding_ms=ts_funding_ms + HOUR_MS,
        mark_price=positive_float_field(raw, "oraclePrice", where),
    )


def oracle_mark(market: object, ticker: str, ts_event_ms: int) -> MarkPrice:
    """The ``oraclePrice`` of a market object as a mark price stamped ``ts_event_ms`` (the
    object carries no time). dYdX has no mark/index field: the oracle price is the reference."""
    where = f"markets[{ticker}]"
    raw = as_object(market, where)
    return MarkPrice(perp_id(ticker), positive_float_field(raw, "oraclePrice", where), ts_event_ms)


# --- history --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FundingRow:
    """One settled funding tick and the block height it took effect at (for paging)."""

    height: int
    funding: FundingRate


def parse_historical_funding(payload: object, instrument_id: InstrumentId) -> list[FundingRow]:
    """``GET /v4/historicalFunding/{ticker}`` → rows in the payload's order (newest first).

    ``ts_funding_ms`` is ``effectiveAt`` as stamped (a few hundred ms after the hour),
    ``ts_next_funding_ms`` the next top of the hour, ``mark_price`` the oracle ``price``.
    Fixture ``historical_funding_btc.json``.
    """
    rows = as_array(
        raw_field(as_object(payload, "historicalFunding"), "historicalFunding", "body"), "rows"
    )
    out = []
    for i, item in enumerate(rows):
        where = f"historicalFunding[{i}]"
        raw = as_object(item, where)
        ts_ms = iso_ms_field(raw, "effectiveAt", where)
        rate = FundingRate(
            instrument_id=instrument_id,
            rate=float_field(raw, "rate", where),
            interval_s=c.FUNDING_INTERVAL_S,
            ts_funding_ms=ts_ms,
            ts_next_funding_ms=next_hour_ms(ts_ms),
            mark_price=positive_float_field(raw, "price", where),
        )
        out.append(FundingRow(digits_field(raw, "effectiveAtHeight", where), rate))
    return out


def parse_candles(payload: object, instrument_id: InstrumentId, interval_s: int) -> list[Bar]:
    """``GET /v4/candles/perpetualMarkets/{ticker}`` → bars in the payload's order (newest
    first); ``volume`` is ``baseTokenVolume`` (base units). Fixture ``candles_btc_1min.json``."""
    rows = as_array(raw_field(as_object(payload, "candles"), "candles", "body"), "candles")
    out = []
    for i, item in enumerate(rows):
        where = f"candles[{i}]"
        raw = as_object(item, where)
        ts_open_ms = iso_ms_field(raw, "startedAt", where)
        bar = Bar(
            instrument_id=instrument_id,
            ts_open_ms=ts_open_ms,
            ts_close_ms=ts_open_ms + interval_s * 1000,
            open=positive_float_field(raw, "open", where),
            high=positive_float_field(raw, "high", where),
            low=positive_float_field(raw, "low", where),
            close=positive_float_field(raw, "close", where),
            volume=float_field(raw, "baseTokenVolume", where),
        )
        if bar.low > min(bar.open, bar.close) or bar.high < max(bar.open, bar.close):
            raise payload_error(
                where, f"inconsistent OHLC {bar.open}/{bar.high}/{bar.low}/{bar.close}"
            )
        out.append(bar)
    return out


# --- errors ---------------------------------------------------------------------------------


def error_message(payload: object) -> str | None:
    """The first ``msg`` (with its ``param``/``value`` when present) of an Indexer error body
    ``{"errors": [{"msg": ...}]}``, or ``None`` if the body is not one (Indexer error handler
    https://github.com/dydxprotocol/v4-chain/blob/main/indexer/services/comlink/src/request-helpers/error-handler.ts;
    fixture ``errors.json``)."""
    if not isinstance(payload, Mapping):
        return None
    errors = payload.get("errors")
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], Mapping):
        return None
    first = errors[0]
    message = first.get("msg")
    if not isinstance(message, str):
        return None
    if "param" in first:
        message += f" (param {first['param']}={first.get('value')!r})"
    return message
