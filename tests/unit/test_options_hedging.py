"""Portfolio greeks (Σ qty × contract size × greek + hedge) and the delta-hedge decision
(band, lot rounding, minimum trade)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from strategies.options.delta_hedge import decide_hedge
from strategies.options.portfolio_greeks import portfolio_greeks


def test_portfolio_greeks_are_size_weighted_sums_plus_hedge() -> None:
    # Long 1.5 calls (δ 0.7, Γ 1e-5, ν 390, Θ −25), short 2 puts (δ −0.3, Γ 2e-5, ν 200, Θ −10),
    # contract size 1 coin; short 0.4 coin of perpetual.
    book = portfolio_greeks(
        qty_contracts=[1.5, -2.0],
        contract_size_coin=[1.0, 1.0],
        delta=[0.7, -0.3],
        gamma_per_usd=[1e-5, 2e-5],
        vega_usd_per_vol_point=[390.0, 200.0],
        theta_usd_per_day=[-25.0, -10.0],
        hedge_position_coin=-0.4,
    )
    assert book.delta_coin == pytest.approx(1.05 + 0.6 - 0.4, abs=1e-12)
    assert book.gamma_coin_per_usd == pytest.approx(1.5e-5 - 4e-5, abs=1e-18)
    assert book.vega_usd_per_vol_point == pytest.approx(585.0 - 400.0, abs=1e-9)
    assert book.theta_usd_per_day == pytest.approx(-37.5 + 20.0, abs=1e-9)


def test_contract_size_scales_and_may_be_scalar() -> None:
    book = portfolio_greeks([2.0, 3.0], 10.0, [0.5, -0.1], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0])
    assert book.delta_coin == pytest.approx(2 * 10 * 0.5 - 3 * 10 * 0.1, abs=1e-12)
    assert book.vega_usd_per_vol_point == pytest.approx(50.0, abs=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"delta": [0.5]}, "delta"),
        ({"theta_usd_per_day": [0.0, float("nan")]}, "theta_usd_per_day"),
        ({"hedge_position_coin": float("inf")}, "hedge_position_coin"),
        ({"contract_size_coin": [1.0, 1.0, 1.0]}, "contract_size_coin"),
    ],
)
def test_portfolio_greeks_refuse_bad_input(kwargs: dict[str, object], named: str) -> None:
    args: dict[str, object] = {
        "qty_contracts": [1.0, 2.0],
        "contract_size_coin": 1.0,
        "delta": [0.5, 0.5],
        "gamma_per_usd": [0.0, 0.0],
        "vega_usd_per_vol_point": [0.0, 0.0],
        "theta_usd_per_day": [0.0, 0.0],
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=named):
        portfolio_greeks(**args)


def test_inside_the_band_nothing_trades() -> None:
    decision = decide_hedge(
        0.05, band_coin=0.05, lot_size=Decimal("0.001"), min_trade_qty=Decimal("0.001")
    )
    assert (decision.trade_qty, decision.reason, decision.delta_after_coin) == (
        Decimal(0),
        "inside_band",
        0.05,
    )


def test_linear_perp_hedge_rounds_to_the_lot_exactly() -> None:
    decision = decide_hedge(
        -0.12345, band_coin=0.01, lot_size=Decimal("0.001"), min_trade_qty=Decimal("0.001")
    )
    assert decision.reason == "hedge"
    assert decision.trade_qty == Decimal("0.123")  # 123.45 lots → 123, exact decimal
    assert str(decision.trade_qty) == "0.123"
    assert decision.delta_after_coin == pytest.approx(-0.00045, abs=1e-12)


def test_deribit_inverse_perp_hedge_is_in_usd_lots_of_ten() -> None:
    # 1.5 BTC-26JUN26-100000-C at premium-adjusted delta 0.46888 → 0.70332 BTC long; the
    # BTC-PERPETUAL trades USD in multiples of 10: short 0.70332 × 116 000 = 81 585.12 → 81 590.
    decision = decide_hedge(
        1.5 * 0.46888,
        band_coin=0.05,
        lot_size=Decimal(10),
        min_trade_qty=Decimal(10),
        qty_per_coin=116_000.0,
    )
    assert decision.trade_qty == Decimal(-81_590)
    assert decision.delta_after_coin == pytest.approx(0.70332 - 81_590 / 116_000, abs=1e-12)


def test_a_trade_below_the_minimum_or_rounding_to_zero_is_skipped() -> None:
    small = decide_hedge(
        0.0004, band_coin=0.0, lot_size=Decimal("0.0001"), min_trade_qty=Decimal("0.001")
    )
    assert (small.trade_qty, small.reason) == (Decimal(0), "below_min_trade")
    zero = decide_hedge(
        0.00004,
        band_coin=0.0,
        lot_size=Decimal(10),
        min_trade_qty=Decimal(0),
        qty_per_coin=100_000.0,
    )  # 4 USD: no whole lot of 10 USD
    assert (zero.trade_qty, zero.reason) == (Decimal(0), "below_min_trade")


def test_after_every_hedge_delta_is_within_half_a_lot() -> None:
    rng = np.random.default_rng(13)
    lot, band = Decimal("0.001"), 0.02
    for delta in rng.normal(0.0, 1.0, size=2_000):
        decision = decide_hedge(float(delta), band_coin=band, lot_size=lot, min_trade_qty=lot)
        if decision.reason == "inside_band":
            assert abs(delta) <= band
            continue
        assert decision.reason == "hedge"
        assert abs(decision.delta_after_coin) <= 0.0005 + 1e-12
        assert decision.trade_qty % lot == 0
        assert decision.delta_after_coin == pytest.approx(delta + float(decision.trade_qty))


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"portfolio_delta_coin": float("nan")}, "portfolio_delta_coin"),
        ({"band_coin": -0.1}, "band_coin"),
        ({"lot_size": Decimal(0)}, "lot_size"),
        ({"min_trade_qty": Decimal(-1)}, "min_trade_qty"),
        ({"qty_per_coin": 0.0}, "qty_per_coin"),
    ],
)
def test_hedge_decision_refuses_bad_input(kwargs: dict[str, object], named: str) -> None:
    args: dict[str, object] = {
        "portfolio_delta_coin": 1.0,
        "band_coin": 0.1,
        "lot_size": Decimal("0.001"),
        "min_trade_qty": Decimal("0.001"),
        "qty_per_coin": 1.0,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=named):
        decide_hedge(**args)
