"""Beta hedger: hand-built markets whose betas are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from strategies.base import MarketSnapshot, PortfolioView
from strategies.beta_hedger import BetaHedgerConfig, BetaHedgerStrategy
from strategies.options.chain import ChainListing, model_chain
from strategies.options.vol_input import FlatVol
from venues.model import InstrumentId, InstrumentKind

NOW_MS = 1_760_000_000_000
N = 64  # closes: 63 returns, the default window


def perp(symbol: str, venue: str = "binance") -> InstrumentId:
    return InstrumentId(venue, InstrumentKind.PERP, symbol)


def spot(symbol: str) -> InstrumentId:
    return InstrumentId("binance", InstrumentKind.SPOT, symbol)


def market(n: int = N) -> dict[InstrumentId, np.ndarray]:
    """BTC a random walk; ETH log returns exactly 2 × BTC's (β = 2); SOL exactly 0.5 × (β = 0.5)."""
    rng = np.random.default_rng(7)
    log_btc = np.log(60_000.0) + np.concatenate([[0.0], np.cumsum(rng.normal(0, 0.01, n - 1))])
    step = log_btc - log_btc[0]
    return {
        perp("BTCUSDT"): np.exp(log_btc),
        perp("ETHUSDT"): np.exp(np.log(3_000.0) + 2.0 * step),
        perp("SOLUSDT"): np.exp(np.log(150.0) + 0.5 * step),
    }


def snapshot(closes: dict[InstrumentId, np.ndarray]) -> MarketSnapshot:
    return MarketSnapshot(
        ts_ms=NOW_MS,
        instruments={},
        prices={i: float(c[-1]) for i, c in closes.items()},
        funding={},
        closes=closes,
    )


def view(net: dict[InstrumentId, float], own: dict[InstrumentId, float]) -> PortfolioView:
    return PortfolioView(100_000.0, 100_000.0, own, net)


def hedger(**kw: object) -> BetaHedgerStrategy:
    return BetaHedgerStrategy(BetaHedgerConfig(universe=["BTC", "ETH", "SOL"], **kw))


def test_hedge_target_neutralizes_beta_exposure() -> None:
    closes = market()
    p = {i: float(c[-1]) for i, c in closes.items()}
    # Another strategy is long 2 ETH perp and long 1 ETH spot (same base): 3 ETH at β = 2.
    net = {perp("ETHUSDT"): 2.0, spot("ETHUSDT"): 1.0}
    decision = hedger().decide(snapshot(closes), view(net, {}), {}, NOW_MS)
    (intent,) = decision.intents
    (leg,) = intent.legs
    assert leg.instrument_id == perp("BTCUSDT")
    expected = -(3.0 * p[perp("ETHUSDT")] * 2.0) / p[perp("BTCUSDT")]
    assert leg.target_qty == pytest.approx(expected, rel=1e-9)
    assert decision.diagnostics["portfolio_beta_frac"] == pytest.approx(2.0, rel=1e-6)


def test_no_rebalance_within_threshold() -> None:
    closes = market()
    p = {i: float(c[-1]) for i, c in closes.items()}
    # Long 1 ETH (β 2) and short ETH-notional × 2 / 0.5 ... of SOL: beta exposure ~0.
    sol_qty = -(p[perp("ETHUSDT")] * 2.0) / (p[perp("SOLUSDT")] * 0.5) * 0.97
    net = {perp("ETHUSDT"): 1.0, perp("SOLUSDT"): sol_qty}
    exposure = p[perp("ETHUSDT")] * 2.0 + sol_qty * p[perp("SOLUSDT")] * 0.5
    gross = p[perp("ETHUSDT")] + abs(sol_qty) * p[perp("SOLUSDT")]
    assert abs(exposure / gross) < 0.10  # the hand-built book is inside the threshold
    decision = hedger().decide(snapshot(closes), view(net, {}), {}, NOW_MS)
    assert decision.intents == ()


def test_existing_hedge_counts_and_is_resized() -> None:
    closes = market()
    p = {i: float(c[-1]) for i, c in closes.items()}
    own = {perp("BTCUSDT"): -0.01}  # an old, too small hedge
    net = {perp("ETHUSDT"): 3.0, perp("BTCUSDT"): -0.01}
    (intent,) = hedger().decide(snapshot(closes), view(net, own), {}, NOW_MS).intents
    expected = -(3.0 * p[perp("ETHUSDT")] * 2.0) / p[perp("BTCUSDT")]
    assert intent.legs[0].target_qty == pytest.approx(expected, rel=1e-9)


def test_flat_portfolio_closes_a_leftover_hedge() -> None:
    own = {perp("BTCUSDT"): -0.2}
    (intent,) = hedger().decide(snapshot(market()), view(own, own), {}, NOW_MS).intents
    assert intent.legs[0].target_qty == 0.0


def test_a_stale_hedge_perp_is_not_traded_on() -> None:
    """Its recorded data ended (or its feed stopped): the hedge is held, not resized at the
    last price; it trades again once the price is fresh."""
    closes = market()
    net = {perp("ETHUSDT"): 2.0, perp("BTCUSDT"): -0.01}
    own = {perp("BTCUSDT"): -0.01}
    fresh = snapshot(closes)
    stale = MarketSnapshot(
        ts_ms=NOW_MS,
        instruments={},
        prices=fresh.prices,
        funding={},
        closes=closes,
        stale=frozenset({perp("BTCUSDT")}),
    )
    assert hedger().decide(stale, view(net, own), {}, NOW_MS).intents == ()
    (intent,) = hedger().decide(fresh, view(net, own), {}, NOW_MS).intents
    p = fresh.prices
    expected = -(2.0 * p[perp("ETHUSDT")] * 2.0) / p[perp("BTCUSDT")]
    assert intent.legs[0].target_qty == pytest.approx(expected, rel=1e-9)


def test_unknown_beta_is_said_and_excluded() -> None:
    closes = market()
    closes[perp("SOLUSDT")] = closes[perp("SOLUSDT")][-10:]  # 9 returns < 20
    net = {perp("SOLUSDT"): 100.0}
    decision = hedger().decide(snapshot(closes), view(net, {}), {}, NOW_MS)
    assert [a.kind for a in decision.alerts] == ["beta_unknown"]
    assert "SOL" in decision.alerts[0].message
    assert decision.intents == ()  # nothing with a known beta to hedge


def test_hedge_inventory_mode_holds_and_hedges() -> None:
    closes = market()
    p = {i: float(c[-1]) for i, c in closes.items()}
    strategy = hedger(inventory_usd={"SOLUSDT": 6_000.0})
    decision = strategy.decide(snapshot(closes), view({}, {}), {}, NOW_MS)
    (intent,) = decision.intents
    legs = {leg.instrument_id: leg.target_qty for leg in intent.legs}
    sol_qty = 6_000.0 / p[perp("SOLUSDT")]
    assert legs[perp("SOLUSDT")] == pytest.approx(sol_qty, rel=1e-12)
    # Portfolio (empty) beta is 0 -> within threshold -> the hedge stays at its current 0...
    assert legs[perp("BTCUSDT")] == 0.0
    # ...next cycle, holding the inventory unhedged (β = 1 > 0.10), it hedges it.
    own = {perp("SOLUSDT"): sol_qty}
    (intent,) = strategy.decide(snapshot(closes), view(own, own), {}, NOW_MS).intents
    legs = {leg.instrument_id: leg.target_qty for leg in intent.legs}
    assert legs[perp("BTCUSDT")] == pytest.approx(-6_000.0 * 0.5 / p[perp("BTCUSDT")], rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    eth=st.floats(-50, 50),
    sol=st.floats(-500, 500),
    bybit_btc=st.floats(-2, 2),
)
def test_beta_exposure_is_zero_after_hedging(eth: float, sol: float, bybit_btc: float) -> None:
    closes = market()
    p = {i: float(c[-1]) for i, c in closes.items()}
    beta = {"BTC": 1.0, "ETH": 2.0, "SOL": 0.5}
    net = {perp("ETHUSDT"): eth, perp("SOLUSDT"): sol, perp("BTCUSDT", "bybit"): bybit_btc}
    decision = hedger().decide(snapshot(closes), view(net, {}), {}, NOW_MS)
    hedge = decision.intents[0].legs[0].target_qty if decision.intents else 0.0
    book = {**net, perp("BTCUSDT"): hedge}
    price = {"BTC": p[perp("BTCUSDT")], "ETH": p[perp("ETHUSDT")], "SOL": p[perp("SOLUSDT")]}
    base = {perp("ETHUSDT"): "ETH", perp("SOLUSDT"): "SOL"}
    exposure = sum(
        q * price[base.get(i, "BTC")] * beta[base.get(i, "BTC")] for i, q in book.items()
    )
    gross = sum(abs(q) * price[base.get(i, "BTC")] for i, q in book.items())
    if decision.intents:
        assert abs(exposure) <= 1e-6 * max(gross, 1.0)
    else:
        assert gross == 0 or abs(exposure / gross) <= 0.10 + 1e-12


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValidationError, match="beta_min_obs"):
        BetaHedgerConfig(beta_min_obs=100, beta_window_bars=63)
    with pytest.raises(ValidationError, match="USDT"):
        BetaHedgerConfig(hedge_symbol="BTCUSD")
    assert math.isclose(BetaHedgerConfig().rebalance_beta_frac, 0.10)


# ---- options at their delta ----------------------------------------------------------------


def _black_delta(forward: float, strike: float, t_years: float, iv: float, call: bool) -> float:
    """Black-76 delta (rate 0) by hand: N(d1) for a call, N(d1) − 1 for a put."""
    d1 = (math.log(forward / strike) + 0.5 * iv * iv * t_years) / (iv * math.sqrt(t_years))
    n_d1 = 0.5 * (1.0 + math.erf(d1 / math.sqrt(2.0)))
    return n_d1 if call else n_d1 - 1.0


def test_options_count_at_their_black_delta_from_the_chain_not_as_unknown_assets() -> None:
    closes = market()
    p = {i: float(c[-1]) for i, c in closes.items()}
    btc = perp("BTCUSDT")
    chain = model_chain(
        btc, "binance", "BTC", NOW_MS, p[btc], FlatVol(0.6), ChainListing(strike_step_usd=1000.0)
    )
    k_call = next(k for k in range(len(chain)) if chain.is_call[k] and chain.strike_usd[k] > p[btc])
    k_put = next(
        k for k in range(len(chain)) if not chain.is_call[k] and chain.strike_usd[k] < p[btc] - 5000
    )
    call, put = chain.instrument_id(k_call), chain.instrument_id(k_put)
    prices = {**p, call: float(chain.price_usd[k_call]), put: float(chain.price_usd[k_put])}
    snap = MarketSnapshot(NOW_MS, {}, prices, {}, closes, option_chains={btc: chain})
    # Another strategy: long 2 calls, short 3 puts, long 1 ETH perp (β = 2).
    net = {call: 2.0, put: -3.0, perp("ETHUSDT"): 1.0}
    decision = hedger().decide(snap, view(net, {}), {}, NOW_MS)
    t_call = (int(chain.expiry_ms[k_call]) - NOW_MS) / (365 * 86_400_000)
    t_put = (int(chain.expiry_ms[k_put]) - NOW_MS) / (365 * 86_400_000)
    d_call = _black_delta(p[btc], float(chain.strike_usd[k_call]), t_call, 0.6, True)
    d_put = _black_delta(p[btc], float(chain.strike_usd[k_put]), t_put, 0.6, False)
    coins = 2.0 * d_call - 3.0 * d_put  # BTC-equivalent of the options, β 1 against BTC
    exposure = coins * p[btc] + 1.0 * p[perp("ETHUSDT")] * 2.0
    gross = abs(2.0 * d_call) * p[btc] + abs(3.0 * d_put) * p[btc] + p[perp("ETHUSDT")]
    assert decision.alerts == ()  # no option is an unknown asset any more
    assert decision.diagnostics["beta_exposure_usd"] == pytest.approx(exposure, abs=0.01)
    assert decision.diagnostics["gross_notional_usd"] == pytest.approx(gross, abs=0.01)
    (intent,) = decision.intents
    (leg,) = intent.legs
    assert leg.target_qty == pytest.approx(-exposure / p[btc], rel=1e-9)
    # Without the chain the options' delta is unknown: said, and left out.
    bare = MarketSnapshot(NOW_MS, {}, prices, {}, closes)
    unknown = hedger().decide(bare, view(net, {}), {}, NOW_MS)
    assert [a.kind for a in unknown.alerts] == ["beta_unknown"]
    assert call.symbol in unknown.alerts[0].fields["bases"]
