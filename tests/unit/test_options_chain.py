"""Model option chain (listing, Black-76 prices), volatility inputs and structure selection.

Expected values are worked out here from the listing rule and the option's definition, not
read from the code under test: expiry days from the calendar, strikes from the grid step."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from strategies.options.black_scholes import price_usd, years_to_expiry
from strategies.options.chain import ChainListing, model_chain
from strategies.options.vol_input import FlatVol, TermStructureVol, realized_vol_frac
from strategies.options_hedger.structure import needs_roll, select_structure
from venues.model import InstrumentId, InstrumentKind, OptionSpec

PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
NOW_MS = int(datetime(2025, 1, 1, 0, tzinfo=UTC).timestamp() * 1000)  # a Wednesday
HOUR_MS = 3_600_000


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def _chain(forward: float = 94_321.0, **listing: float) -> object:
    return model_chain(
        PERP, "binance", "BTC", NOW_MS, forward, FlatVol(0.55), ChainListing(1000.0, **listing)
    )


def test_the_chain_lists_friday_expiries_at_8_utc_and_a_strike_grid_around_the_forward() -> None:
    chain = model_chain(
        PERP, "binance", "BTC", NOW_MS, 94_321.0, FlatVol(0.55),
        ChainListing(1000.0, strike_range_frac=0.1, listing_days=31),
    )  # fmt: skip
    # listed: the Fridays after 1 Jan 00:00 up to 31 days ahead (7 Feb is 37.3 days away)
    fridays = [_ms(2025, 1, 3, 8), _ms(2025, 1, 10, 8), _ms(2025, 1, 17, 8), _ms(2025, 1, 24, 8),
               _ms(2025, 1, 31, 8)]  # fmt: skip
    assert chain.expiries_ms() == fridays
    # 94 321 × 0.9 = 84 888.9 → first strike 85 000; × 1.1 = 103 753.1 → last 103 000
    strikes = sorted({float(k) for k in chain.strike_usd})
    assert strikes == [float(k) for k in range(85_000, 104_000, 1000)]
    assert len(chain) == len(fridays) * len(strikes) * 2


def test_chain_prices_are_black_76_on_the_forward_rounded_to_the_tick() -> None:
    chain = _chain()
    k = chain.find(InstrumentId("binance", InstrumentKind.OPTION, "BTC-31JAN25-95000-P"))
    assert k is not None
    t = (_ms(2025, 1, 31, 8) - NOW_MS) / (365 * 86_400_000)
    # the put by parity from the call: P = C − (F − K)
    d1 = (math.log(94_321 / 95_000) + 0.5 * 0.55**2 * t) / (0.55 * math.sqrt(t))
    d2 = d1 - 0.55 * math.sqrt(t)
    ncdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    call = 94_321 * ncdf(d1) - 95_000 * ncdf(d2)
    assert chain.price_usd[k] == pytest.approx(round(call - (94_321 - 95_000), 2), abs=1e-9)
    assert chain.iv_frac[k] == 0.55
    spec = chain.spec(k)
    assert spec == OptionSpec.parse("BTC-31JAN25-95000-P")
    assert spec.expiry_ms == _ms(2025, 1, 31, 8)


def test_a_far_out_of_the_money_option_quotes_one_tick_not_zero() -> None:
    chain = model_chain(
        PERP, "binance", "BTC", _ms(2025, 1, 3, 7), 94_000.0, FlatVol(0.3),
        ChainListing(1000.0, strike_range_frac=0.2, listing_days=2),
    )  # fmt: skip
    far = int(np.argmax(chain.strike_usd * chain.is_call))  # the highest call, 1 h to expiry
    assert float(price_usd(94_000.0, chain.strike_usd[far], 1 / 8760, 0.3, True)) < 0.005
    assert chain.price_usd[far] == 0.01


@pytest.mark.parametrize(
    ("structure_m", "expected_call", "expected_put"),
    [
        ((1.0, 1.0), 94_000.0, 94_000.0),  # straddle: the strike nearest 94 321
        ((1.1, 0.9), 104_000.0, 85_000.0),  # 103 753 → 104 000; 84 889 → 85 000
        ((1.25, 0.8), 118_000.0, 75_000.0),  # 117 901 → 118 000; 75 457 → 75 000
    ],
)
def test_structure_takes_the_strikes_nearest_the_target_moneyness(
    structure_m: tuple[float, float], expected_call: float, expected_put: float
) -> None:
    chain = _chain(strike_range_frac=0.5)
    selection = select_structure(
        chain, NOW_MS, target_expiry_days=30, roll_before_expiry_h=48,
        call_moneyness_frac=structure_m[0], put_moneyness_frac=structure_m[1],
    )  # fmt: skip
    assert selection is not None
    call, put = chain.spec(selection.call_index), chain.spec(selection.put_index)
    assert (call.is_call, put.is_call) == (True, False)
    assert (float(call.strike_usd), float(put.strike_usd)) == (expected_call, expected_put)
    # Fridays 31 Jan (30.3 days away) and 24 Jan (23.3 days): 31 Jan is nearest 30 days
    assert call.expiry_ms == put.expiry_ms == _ms(2025, 1, 31, 8)


def test_structure_never_opens_an_expiry_inside_the_roll_window() -> None:
    chain = _chain(listing_days=10)  # lists 3 Jan (2.3 days away) and 10 Jan (9.3 days)
    pick = select_structure(
        chain, NOW_MS, target_expiry_days=1, roll_before_expiry_h=72,
        call_moneyness_frac=1.0, put_moneyness_frac=1.0,
    )  # fmt: skip
    assert pick is not None
    assert pick.expiry_ms == _ms(2025, 1, 10, 8)
    none = select_structure(
        chain, NOW_MS, target_expiry_days=1, roll_before_expiry_h=24 * 10,
        call_moneyness_frac=1.0, put_moneyness_frac=1.0,
    )  # fmt: skip
    assert none is None
    assert needs_roll(_ms(2025, 1, 3, 8), _ms(2025, 1, 1, 8), 48)
    assert not needs_roll(_ms(2025, 1, 3, 8), _ms(2025, 1, 1, 7), 48)


def test_term_structure_interpolates_total_variance_and_refuses_calendar_arbitrage() -> None:
    term = TermStructureVol.of_points([(30.0, 0.60), (7.0, 0.50)])
    # 14 days: variance 0.25·7 + (0.36·30 − 0.25·7)·(7/23) = 1.75 + 9.05·7/23
    expected = math.sqrt((1.75 + 9.05 * 7 / 23) / 14)
    got = term.iv_at(np.array([3.0, 14.0, 30.0, 60.0]) / 365)
    assert got == pytest.approx([0.50, expected, 0.60, 0.60], rel=1e-12)
    with pytest.raises(ValueError, match="calendar arbitrage"):
        TermStructureVol.of_points([(7.0, 0.9), (30.0, 0.3)])


def test_realized_volatility_is_the_annualised_std_of_hourly_log_returns() -> None:
    returns = np.array([0.01, -0.02, 0.005, 0.0, 0.015])
    closes = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))
    mean = returns.mean()
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 4)
    assert realized_vol_frac(closes, 5) == pytest.approx(std * math.sqrt(8760), rel=1e-12)
    with pytest.raises(ValueError, match="needs 7 closes"):
        realized_vol_frac(closes, 6)


def test_option_symbols_round_trip_and_bad_ones_are_refused() -> None:
    spec = OptionSpec.parse("ETH-27JUN25-2500.5-C")
    assert spec.symbol == "ETH-27JUN25-2500.5-C"
    assert float(years_to_expiry(_ms(2025, 6, 26, 8), spec.expiry_ms)) == pytest.approx(1 / 365)
    for bad in ("BTC-31FOO25-1-C", "BTC-31JAN25-0-C", "BTC-31JAN25-100-X", "BTC-100-C"):
        with pytest.raises(ValueError, match="BASE-DMMMYY-STRIKE"):
            OptionSpec.parse(bad)
