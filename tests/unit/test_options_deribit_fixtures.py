"""Our Black-76 greeks against Deribit's own, on every fixture in tests/fixtures/deribit-v2/ that
carries greeks.

Fixtures (copied unchanged from the venue notes' recorded payloads):

* ``ticker_btc_option.json`` — recorded production ``public/ticker`` of BTC-26JUN26-100000-C
  (2025-07-09); ``ws_ticker_btc_option_constructed.json`` — the same result in a ``ticker.*``
  notification envelope;
* ``get_positions_option_constructed.json`` — a 1.5-contract position in that option (Deribit's
  position greeks, constructed from the ticker's);
* ``get_instruments_*_option*.json`` — instrument rows, for the expiry time (08:00 UTC).

Convention (why ours and Deribit's can differ, and by how much). Inputs: the forward
``underlying_price`` (not ``index_price``), ``mark_iv`` / 100, ``interest_rate``, the
ticker's ``timestamp`` to the expiry at 08:00 UTC on a 365-day year. Deribit prints greeks to 5
decimals and ``mark_iv`` to 2 (in percent), so the volatility it used is only known to ±0.005
vol points. The tolerance for each greek is therefore half a unit of its 5th decimal plus the
greek's own change over that volatility uncertainty (computed from the model, not tuned):
delta ±9e-6, gamma ±5e-6, vega ±0.0027 USD, theta ±0.0029 USD/day. Measured: delta 3.7e-6,
gamma 3.4e-6 (Deribit rounds 6.6e-6 to 1e-05), vega 8.1e-4, theta 1.0e-3 — all consistent with
Deribit having used a volatility of about 45.432 %. Not visible in this fixture, hence not
checked: a non-zero rate (its ``interest_rate`` is 0), the last-day theta cap, and the delta
decay during the settlement window.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from strategies.options import black_scholes as bs
from strategies.options.inverse import premium_adjusted_delta, price_coin
from strategies.options.portfolio_greeks import portfolio_greeks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deribit-v2"
PRINTED_GREEK_HALF_UNIT = 0.5e-5
MARK_IV_HALF_UNIT_FRAC = 0.5e-4  # mark_iv printed to 0.01 %, i.e. ±0.00005 as a fraction
MARK_PRICE_HALF_UNIT_COIN = 0.5e-4  # mark_price printed to 4 decimals
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, start=1)}


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _tickers_with_greeks() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, obj)
        for path in sorted(FIXTURES.glob("*.json"))
        for obj in _objects(_load(path.name))
        if "greeks" in obj
    ]


def _option_positions() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, obj)
        for path in sorted(FIXTURES.glob("*.json"))
        for obj in _objects(_load(path.name))
        if obj.get("kind") == "option" and "delta" in obj and "size" in obj
    ]


def _expiry_ms(instrument_name: str) -> int:
    """08:00 UTC on the date in the name (``BTC-26JUN26-100000-C`` → 2026-06-26 08:00)."""
    match = re.fullmatch(r"[A-Z_]+-(\d{1,2})([A-Z]{3})(\d{2})-[\dd]+-[CP]", instrument_name)
    assert match, instrument_name
    day, month, year = int(match[1]), MONTHS[match[2]], 2000 + int(match[3])
    return int(datetime(year, month, day, 8, tzinfo=UTC).timestamp() * 1000)


def _inputs(ticker: dict[str, Any]) -> dict[str, Any]:
    name = ticker["instrument_name"]
    return {
        "forward_usd": ticker["underlying_price"],
        "strike_usd": float(name.split("-")[2]),
        "t_years": float(bs.years_to_expiry(ticker["timestamp"], _expiry_ms(name))),
        "iv_frac": ticker["mark_iv"] / 100.0,
        "rate_frac": ticker["interest_rate"],
        "is_call": name.endswith("-C"),
    }


def _ours(inputs: dict[str, Any]) -> dict[str, float]:
    greeks = {
        "delta": bs.delta(**inputs),
        "gamma": bs.gamma_per_usd(**{k: v for k, v in inputs.items() if k != "is_call"}),
        "vega": bs.vega_usd_per_vol_point(**{k: v for k, v in inputs.items() if k != "is_call"}),
        "theta": bs.theta_usd_per_day(**inputs),
    }
    return {name: float(value) for name, value in greeks.items()}


def _tolerance(inputs: dict[str, Any]) -> dict[str, float]:
    """Half a printed unit plus the greek's change over mark_iv's rounding."""
    iv = inputs["iv_frac"]
    low = _ours({**inputs, "iv_frac": iv - MARK_IV_HALF_UNIT_FRAC})
    high = _ours({**inputs, "iv_frac": iv + MARK_IV_HALF_UNIT_FRAC})
    return {k: PRINTED_GREEK_HALF_UNIT + abs(high[k] - low[k]) / 2 for k in low}


TICKERS = _tickers_with_greeks()


def test_the_fixtures_with_greeks_are_the_expected_ones() -> None:
    # The scan must see the recorded ticker, its ws copy and the position: a scan that finds
    # nothing would make the parametrised checks below vacuous.
    assert sorted(name for name, _ in TICKERS) == [
        "ticker_btc_option.json",
        "ws_ticker_btc_option_constructed.json",
    ]
    assert [name for name, _ in _option_positions()] == ["get_positions_option_constructed.json"]


@pytest.mark.parametrize(("fixture", "ticker"), TICKERS, ids=[name for name, _ in TICKERS])
def test_greeks_match_deribit_ticker(fixture: str, ticker: dict[str, Any]) -> None:
    inputs = _inputs(ticker)
    ours, tolerance = _ours(inputs), _tolerance(inputs)
    for name, theirs in ticker["greeks"].items():
        if name == "rho":  # not modelled (Deribit's rho is the spot-model K·T·N(d2)/100)
            continue
        assert ours[name] == pytest.approx(theirs, abs=tolerance[name]), (fixture, name)


@pytest.mark.parametrize(("fixture", "ticker"), TICKERS, ids=[name for name, _ in TICKERS])
def test_coin_price_matches_deribit_mark_price(fixture: str, ticker: dict[str, Any]) -> None:
    inputs = _inputs(ticker)
    coin = float(price_coin(bs.price_usd(**inputs), inputs["forward_usd"]))
    iv = inputs["iv_frac"]
    low = float(bs.price_usd(**{**inputs, "iv_frac": iv - MARK_IV_HALF_UNIT_FRAC}))
    high = float(bs.price_usd(**{**inputs, "iv_frac": iv + MARK_IV_HALF_UNIT_FRAC}))
    tolerance = MARK_PRICE_HALF_UNIT_COIN + (high - low) / 2 / inputs["forward_usd"]
    assert coin == pytest.approx(ticker["mark_price"], abs=tolerance), fixture


def test_position_greeks_are_size_times_ticker_greeks() -> None:
    tickers = {t["instrument_name"]: t for _, t in TICKERS}
    for fixture, position in _option_positions():
        inputs = _inputs(tickers[position["instrument_name"]])
        per_contract, tolerance = _ours(inputs), _tolerance(inputs)
        sign = 1.0 if position["direction"] == "buy" else -1.0
        book = portfolio_greeks(
            qty_contracts=[sign * position["size"]],
            contract_size_coin=1.0,
            delta=[per_contract["delta"]],
            gamma_per_usd=[per_contract["gamma"]],
            vega_usd_per_vol_point=[per_contract["vega"]],
            theta_usd_per_day=[per_contract["theta"]],
        )
        size = position["size"]
        assert book.delta_coin == pytest.approx(position["delta"], abs=size * tolerance["delta"])
        assert book.gamma_coin_per_usd == pytest.approx(
            position["gamma"], abs=size * tolerance["gamma"]
        )
        assert book.vega_usd_per_vol_point == pytest.approx(
            position["vega"], abs=size * tolerance["vega"]
        )
        assert book.theta_usd_per_day == pytest.approx(
            position["theta"], abs=size * tolerance["theta"]
        ), fixture


def test_ticker_delta_is_black_delta_not_premium_adjusted() -> None:
    ticker = _load("ticker_btc_option.json")["result"]
    inputs = _inputs(ticker)
    adjusted = float(premium_adjusted_delta(bs.delta(**inputs), ticker["mark_price"]))
    # 0.71138 − 0.2425 = 0.46888: far outside the tolerance, so the ticker's is the plain one.
    assert adjusted == pytest.approx(0.71138 - 0.2425, abs=1e-5)
    assert abs(adjusted - ticker["greeks"]["delta"]) > 0.2


def test_the_underlying_is_the_forward_not_the_index() -> None:
    ticker = _load("ticker_btc_option.json")["result"]
    inputs = _inputs(ticker)
    on_index = _ours({**inputs, "forward_usd": ticker["index_price"]})
    assert abs(on_index["delta"] - ticker["greeks"]["delta"]) > 0.03


def test_the_year_has_365_days_not_365_25() -> None:
    ticker = _load("ticker_btc_option.json")["result"]
    inputs = _inputs(ticker)
    tolerance = _tolerance(inputs)
    julian = _ours({**inputs, "t_years": inputs["t_years"] * 365.0 / 365.25})
    assert abs(julian["vega"] - ticker["greeks"]["vega"]) > 10 * tolerance["vega"]
    assert abs(julian["delta"] - ticker["greeks"]["delta"]) > tolerance["delta"]


@pytest.mark.parametrize(
    "fixture", ["get_instruments_btc_option.json", "get_instruments_eth_option_recorded.json"]
)
def test_expiry_is_0800_utc_on_the_named_date(fixture: str) -> None:
    rows = _load(fixture)["result"]
    assert rows
    for row in rows:
        assert _expiry_ms(row["instrument_name"]) == row["expiration_timestamp"]


def test_years_to_expiry_uses_milliseconds_over_365_days() -> None:
    t = bs.years_to_expiry(np.array([0, 86_400_000]), 365 * 86_400_000)
    np.testing.assert_allclose(t, [1.0, 364.0 / 365.0], rtol=0, atol=1e-15)
