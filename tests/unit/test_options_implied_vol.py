"""Implied volatility: round trips over a grid, Deribit's recorded mark, and refusals."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from strategies.options import black_scholes as bs
from strategies.options.implied_vol import implied_vol_frac

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deribit-v2"


def _grid() -> list[tuple[bool, float, float, float]]:
    """Calls and puts over strikes, expiries and volatilities, leaving out the far
    out-of-the-money corners whose price (below 1e-6 USD per vol point) no longer pins it."""
    cases = itertools.product(
        [True, False], [40_000.0, 90_000.0, 100_000.0, 180_000.0], [2 / 365, 0.3, 2.0],
        [0.05, 0.5, 2.5],
    )  # fmt: skip
    return [
        case
        for case in cases
        if float(bs.vega_usd_per_vol_point(100_000.0, case[1], case[2], case[3], 0.03)) > 1e-6
    ]


GRID = _grid()


def test_the_grid_keeps_most_cases() -> None:
    assert len(GRID) >= 50  # of 72


@pytest.mark.parametrize(("is_call", "strike_usd", "t_years", "iv_frac"), GRID)
def test_round_trip(is_call: bool, strike_usd: float, t_years: float, iv_frac: float) -> None:
    price = float(bs.price_usd(100_000.0, strike_usd, t_years, iv_frac, is_call, 0.03))
    found = implied_vol_frac(price, 100_000.0, strike_usd, t_years, is_call, 0.03)
    assert found == pytest.approx(iv_frac, abs=1e-7)


def test_deribit_mark_price_gives_its_mark_iv() -> None:
    ticker = json.loads((FIXTURES / "ticker_btc_option.json").read_text())["result"]
    forward = ticker["underlying_price"]
    t_years = float(bs.years_to_expiry(ticker["timestamp"], 1782460800000))  # 26JUN26 08:00
    found = implied_vol_frac(ticker["mark_price"] * forward, forward, 100_000.0, t_years, True)
    # mark_price is printed to 4 decimals: ±0.00005 BTC × forward / vega = ±0.0149 vol points.
    tolerance_points = 0.5e-4 * forward / ticker["greeks"]["vega"]
    assert found * 100 == pytest.approx(ticker["mark_iv"], abs=tolerance_points)


@pytest.mark.parametrize(
    "price_usd",
    [
        5.0,  # below intrinsic (F − K = 10)
        111.0,  # above the forward (110)
        float("nan"),
    ],
)
def test_prices_no_volatility_gives_are_refused(price_usd: float) -> None:
    with pytest.raises(ValueError, match="option_price_usd"):
        implied_vol_frac(price_usd, 110.0, 100.0, 0.5, True)
