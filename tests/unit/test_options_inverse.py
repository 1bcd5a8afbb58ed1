"""Inverse options: coin price and the premium-adjusted delta, checked as the derivative of the
coin value and by hedging coin P&L with an inverse perpetual."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.options import black_scholes as bs
from strategies.options.inverse import premium_adjusted_delta, price_coin

FORWARD = np.array([80_000.0, 100_000.0, 125_000.0])
STRIKE, T_YEARS, IV = 100_000.0, 0.4, 0.55


def _coin_value(forward_usd: np.ndarray | float, is_call: bool) -> np.ndarray:
    usd = bs.price_usd(forward_usd, STRIKE, T_YEARS, IV, is_call)
    return np.asarray(usd) / forward_usd


@pytest.mark.parametrize("is_call", [True, False])
def test_coin_delta_is_forward_times_the_coin_value_derivative(is_call: bool) -> None:
    h = FORWARD * 1e-5
    derivative = (_coin_value(FORWARD + h, is_call) - _coin_value(FORWARD - h, is_call)) / (2 * h)
    adjusted = premium_adjusted_delta(
        bs.delta(FORWARD, STRIKE, T_YEARS, IV, is_call),
        price_coin(bs.price_usd(FORWARD, STRIKE, T_YEARS, IV, is_call), FORWARD),
    )
    np.testing.assert_allclose(adjusted, FORWARD * derivative, rtol=1e-7, atol=1e-9)


def test_deribit_account_summary_example() -> None:
    # Deribit: a 0.50-delta call bought for 0.10 BTC raises delta_total by 0.40.
    assert float(premium_adjusted_delta(0.50, 0.10)) == pytest.approx(0.40, abs=1e-15)


def test_a_zero_strike_call_has_no_coin_delta() -> None:
    forward = 60_000.0
    strike = forward * 1e-9  # worth the whole coin: its coin value never moves
    usd = bs.price_usd(forward, strike, 0.5, 0.7, True)
    adjusted = premium_adjusted_delta(bs.delta(forward, strike, 0.5, 0.7, True), usd / forward)
    assert float(adjusted) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("is_call", [True, False])
def test_shorting_the_coin_delta_in_inverse_perp_flattens_coin_pnl(is_call: bool) -> None:
    f0, f1 = 100_000.0, 100_100.0  # +0.1 %
    option_pnl_coin = float(_coin_value(f1, is_call)[()] - _coin_value(f0, is_call)[()])
    black_delta = float(bs.delta(f0, STRIKE, T_YEARS, IV, is_call))
    coin_delta = float(premium_adjusted_delta(black_delta, _coin_value(f0, is_call)))

    def perp_pnl_coin(coins: float) -> float:
        # An inverse perpetual of N USD long gains N·(1/F0 − 1/F1) coins; N = coins × F0.
        return coins * f0 * (1 / f0 - 1 / f1)

    hedged = option_pnl_coin + perp_pnl_coin(-coin_delta)
    black_hedged = option_pnl_coin + perp_pnl_coin(-black_delta)
    assert abs(hedged) < 0.01 * abs(option_pnl_coin)
    assert abs(black_hedged) > 10 * abs(hedged)  # the plain delta leaves the premium's exposure


def test_price_coin_matches_division_and_refuses_bad_forward() -> None:
    np.testing.assert_allclose(price_coin([100.0, 50.0], [1_000.0, 500.0]), [0.1, 0.1])
    with pytest.raises(ValueError, match="forward_usd"):
        price_coin(100.0, 0.0)
    with pytest.raises(ValueError, match="price_usd"):
        price_coin(float("nan"), 1.0)
    with pytest.raises(ValueError, match="delta"):
        premium_adjusted_delta(float("inf"), 0.1)
