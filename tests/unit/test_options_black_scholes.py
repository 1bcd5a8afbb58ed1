"""Black-76 prices and greeks: a textbook value, put-call parity, and every greek against a
finite difference of the price function (an independent recomputation: only ``price_usd`` is
used, bumped in one input at a time)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategies.options import black_scholes as bs

# A grid over moneyness, expiry (1 week .. 1.5 years), volatility and rate; calls and puts.
F, K, T, IV, R, CALL = (
    a.ravel()
    for a in np.meshgrid(
        [60_000.0, 95_000.0, 100_000.0, 140_000.0],
        [100_000.0],
        [7 / 365, 0.25, 1.5],
        [0.3, 0.8],
        [0.0, 0.05],
        [True, False],
        indexing="ij",
    )
)
CALL = CALL.astype(bool)


def _price(**bump: np.ndarray) -> np.ndarray:
    args = {"forward_usd": F, "strike_usd": K, "t_years": T, "iv_frac": IV, "rate_frac": R}
    args.update(bump)
    return bs.price_usd(is_call=CALL, **args)


def test_hull_black_model_example() -> None:
    # Hull, "Options, Futures, and Other Derivatives", Black's model example: a European put
    # futures option, F = K = 20, r = 9 %, T = 4 months, σ = 25 %: price 1.12.
    assert float(bs.price_usd(20.0, 20.0, 4 / 12, 0.25, False, 0.09)) == pytest.approx(
        1.12, abs=0.005
    )


def test_put_call_parity() -> None:
    call = bs.price_usd(F, K, T, IV, True, R)
    put = bs.price_usd(F, K, T, IV, False, R)
    np.testing.assert_allclose(call - put, np.exp(-R * T) * (F - K), rtol=0, atol=1e-7)


def test_price_bounds() -> None:
    price = _price()
    discount = np.exp(-R * T)
    intrinsic = np.where(CALL, np.maximum(F - K, 0), np.maximum(K - F, 0)) * discount
    upper = np.where(CALL, F, K) * discount
    assert np.all(price > intrinsic - 1e-9)
    assert np.all(price < upper)


def test_delta_is_the_forward_derivative_of_the_price() -> None:
    h = F * 1e-5
    numeric = (_price(forward_usd=F + h) - _price(forward_usd=F - h)) / (2 * h)
    np.testing.assert_allclose(bs.delta(F, K, T, IV, CALL, R), numeric, rtol=1e-7, atol=1e-9)


def test_gamma_is_the_second_forward_derivative_of_the_price() -> None:
    h = F * 1e-3
    numeric = (_price(forward_usd=F + h) - 2 * _price() + _price(forward_usd=F - h)) / h**2
    np.testing.assert_allclose(bs.gamma_per_usd(F, K, T, IV, R), numeric, rtol=1e-4, atol=1e-12)


def test_vega_is_the_price_change_per_vol_point() -> None:
    h = 1e-5
    numeric = (_price(iv_frac=IV + h) - _price(iv_frac=IV - h)) / (2 * h) * 0.01
    np.testing.assert_allclose(
        bs.vega_usd_per_vol_point(F, K, T, IV, R), numeric, rtol=1e-6, atol=1e-6
    )


def test_theta_is_the_price_change_per_calendar_day() -> None:
    h = T * 1e-5
    # One calendar day later the expiry is one day nearer: theta = −∂price/∂T / 365.
    numeric = -(_price(t_years=T + h) - _price(t_years=T - h)) / (2 * h) / 365.0
    np.testing.assert_allclose(
        bs.theta_usd_per_day(F, K, T, IV, CALL, R), numeric, rtol=1e-6, atol=1e-6
    )


def test_theta_inside_the_last_day_covers_only_the_remaining_life() -> None:
    t = np.array([0.25, 1.0, 3.0]) / 365.0  # 6 hours, 1 day, 3 days
    uncapped = bs.theta_usd_per_day(100.0, 100.0, t, 0.6, True, remaining_life_cap=False)
    capped = bs.theta_usd_per_day(100.0, 100.0, t, 0.6, True)
    np.testing.assert_allclose(capped, uncapped * np.array([0.25, 1.0, 1.0]), rtol=1e-15)


def test_vectorised_equals_scalar_calls() -> None:
    vector = bs.delta(F, K, T, IV, CALL, R)
    scalars = [
        float(bs.delta(f, k, t, s, bool(c), r))
        for f, k, t, s, r, c in zip(F, K, T, IV, R, CALL, strict=True)
    ]
    np.testing.assert_array_equal(vector, scalars)
    assert bs.delta(100.0, 100.0, 1.0, 0.5, True).shape == ()


def test_atm_call_delta_and_known_closed_form() -> None:
    # At the money with r = 0: d1 = σ√T/2, so delta = N(σ√T/2) — checked with math.erf.
    sigma_sqrt_t = 0.8 * math.sqrt(0.5)
    expected = 0.5 * (1 + math.erf(sigma_sqrt_t / 2 / math.sqrt(2)))
    assert float(bs.delta(50_000.0, 50_000.0, 0.5, 0.8, True)) == pytest.approx(expected, 1e-12)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"forward_usd": -1.0}, "forward_usd"),
        ({"strike_usd": 0.0}, "strike_usd"),
        ({"t_years": 0.0}, "t_years"),
        ({"iv_frac": float("nan")}, "iv_frac"),
        ({"rate_frac": float("inf")}, "rate_frac"),
        ({"is_call": "call"}, "is_call"),
        ({"is_call": 1}, "is_call"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict[str, object], named: str) -> None:
    args: dict[str, object] = {
        "forward_usd": 100.0,
        "strike_usd": 100.0,
        "t_years": 1.0,
        "iv_frac": 0.5,
        "is_call": True,
        "rate_frac": 0.0,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=named):
        bs.price_usd(**args)
