"""The funding harvester's entry fast paths (issue 14, N = 200) compute exactly as before.

- :func:`strategies.common.adv_usd` sums the window first and scans it for non-finite values
  only when the sum is not finite;
- an entry finds the coarser lot step of its legs without building a list;
- candidates are the estimates worth entering ranked once per estimates (they change only
  with the rate histories), filtered each cycle, instead of filtered then sorted each cycle.

Each is compared on random inputs with the code it replaced (kept here, or the reference
harvester of HEAD f6fff63 in :mod:`tests.unit.reference`), floats by ``float.hex``.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.base import MarketSnapshot, PortfolioView
from strategies.common import HOURS_PER_DAY, adv_usd
from strategies.funding_harvester.config import FundingHarvesterConfig
from strategies.funding_harvester.strategy import FundingHarvesterStrategy
from tests.support.harvester import COSTS, H8_S, H_MS, T0_MS, pid, sid
from tests.unit.reference.funding_harvester_f6fff63 import (
    FundingHarvesterStrategy as ReferenceHarvester,
)
from venues.model import FundingRate, Instrument, InstrumentId

# -- ADV -----------------------------------------------------------------------------------------


def reference_adv_usd(closes: np.ndarray, volumes: np.ndarray, window_h: int) -> float | None:
    """The ADV as computed before the fast path (HEAD 9ae302e)."""
    n = min(len(closes), len(volumes))
    if n < window_h:
        return None
    c = np.asarray(closes[-window_h:], dtype=np.float64)
    v = np.asarray(volumes[-window_h:], dtype=np.float64)
    traded = c * v
    if not np.isfinite(traded).all():
        return None
    return float(traded.sum()) * HOURS_PER_DAY / window_h


value_st = st.one_of(
    st.floats(0.0, 1e6),
    st.floats(1e300, 1.7e308),  # products and sums that overflow
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0]),
)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.tuples(value_st, value_st), min_size=0, max_size=300),
    window_h=st.integers(24, 200),
)
def test_adv_usd_is_the_straightforward_sum(
    values: list[tuple[float, float]], window_h: int
) -> None:
    closes = np.array([c for c, _ in values], dtype=np.float64)
    volumes = np.array([v for _, v in values], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # overflows are drawn on purpose
        got = adv_usd(closes, volumes, window_h)
        want = reference_adv_usd(closes, volumes, window_h)
    if want is None:
        assert got is None
    else:
        assert got is not None
        assert got.hex() == want.hex()


def test_adv_usd_is_none_with_a_nan_in_the_window_and_inf_on_overflow() -> None:
    closes = np.full(24, 100.0)
    volumes = np.full(24, 2.0)
    assert adv_usd(closes, volumes, 24) == 100.0 * 2.0 * 24  # Σ over 24 h × 24 / 24
    volumes[5] = math.nan
    assert adv_usd(closes, volumes, 24) is None
    volumes[5] = math.inf
    assert adv_usd(closes, volumes, 24) is None
    huge = np.full(24, 1e308)
    with np.errstate(over="ignore"):  # finite products, overflowing sum: inf, not unknown
        assert adv_usd(huge, np.full(24, 1.0), 24) == math.inf


# -- the coarser lot step ------------------------------------------------------------------------


def reference_common_lot_qty(
    instruments: dict[InstrumentId, Instrument],
    ids: tuple[InstrumentId, InstrumentId],
    raw_qty: float,
) -> float:
    """``_common_lot_qty`` as it was before the fast path (HEAD 9ae302e)."""
    steps = [instruments[i].lot_step for i in ids if i in instruments]
    step = max(steps, default=Decimal(0))
    if step <= 0:
        return raw_qty
    lots = (Decimal(repr(raw_qty)) / step).to_integral_value(rounding=ROUND_DOWN)
    return float(lots * step)


step_st = st.one_of(
    st.none(),  # the leg is not listed
    st.sampled_from(
        [Decimal("0.001"), Decimal("1E-3"), Decimal("0.01"), Decimal(1), Decimal(0), Decimal(-1)]
    ),
)


def instrument(instrument_id: InstrumentId, lot_step: Decimal) -> Instrument:
    return Instrument(
        id=instrument_id,
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.01"),
        lot_step=lot_step,
        min_qty=Decimal(0),
        min_notional_usd=Decimal(0),
    )


def entered_qty(instruments: dict[InstrumentId, Instrument], spot_price: float) -> float | None:
    """The spot quantity of the entry of a one-symbol harvester at ``spot_price``."""
    cfg = FundingHarvesterConfig(
        symbols=["BTCUSDT"], rate_lookback_settlements=1, min_net_apr_frac=0.0
    )
    strategy = FundingHarvesterStrategy(cfg, COSTS)
    perp = pid("BTCUSDT")
    funding = {perp: FundingRate(perp, 5e-4, H8_S, T0_MS, T0_MS + H8_S * 1000)}
    prices = {sid("BTCUSDT"): spot_price, perp: spot_price * 1.001}
    snapshot = MarketSnapshot(T0_MS, instruments, prices, funding, {}, frozenset())
    view = PortfolioView(100_000.0, 100_000.0, {})
    decision = strategy.decide(snapshot, view, strategy.initial_state(), T0_MS)
    entries = [i for i in decision.intents if i.reason == "enter"]
    if not entries:
        return None
    (entry,) = entries
    return entry.legs[0].target_qty


@settings(max_examples=200, deadline=None)
@given(spot_step=step_st, perp_step=step_st, spot_price=st.floats(1e-3, 1e6))
def test_entry_rounds_to_the_coarser_lot_as_the_straightforward_code(
    spot_step: Decimal | None, perp_step: Decimal | None, spot_price: float
) -> None:
    ids = (sid("BTCUSDT"), pid("BTCUSDT"))
    instruments = {
        i: instrument(i, step)
        for i, step in zip(ids, (spot_step, perp_step), strict=True)
        if step is not None
    }
    raw_qty = FundingHarvesterConfig(symbols=["BTCUSDT"]).position_notional_usd / spot_price
    want = reference_common_lot_qty(instruments, ids, raw_qty)
    got = entered_qty(instruments, spot_price)
    if want <= 0:
        assert got is None
    else:
        assert got is not None
        assert got.hex() == want.hex()


def test_entry_rounds_down_to_the_coarser_step() -> None:
    spot, perp = sid("BTCUSDT"), pid("BTCUSDT")
    instruments = {
        spot: instrument(spot, Decimal("0.001")),
        perp: instrument(perp, Decimal("0.01")),
    }
    notional_usd = FundingHarvesterConfig(symbols=["BTCUSDT"]).position_notional_usd
    spot_price = notional_usd / 1.23456  # 1.23456 BTC before rounding
    assert entered_qty(instruments, spot_price) == 1.23


# -- candidates ----------------------------------------------------------------------------------

SYMBOLS = tuple(f"S{i}USDT" for i in range(8))


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n_steps=st.integers(1, 12))
def test_candidates_rank_and_count_as_the_reference(data: st.DataObject, n_steps: int) -> None:
    """Eight symbols whose net APRs tie often, every one enterable: the candidates (their count
    in the diagnostics, the entries in rank order) are those of the reference harvester, which
    filters then sorts every cycle."""
    cfg = FundingHarvesterConfig(
        symbols=list(SYMBOLS),
        rate_lookback_settlements=1,
        min_net_apr_frac=0.0,
        max_positions=data.draw(st.integers(1, 8)),
    )
    fast, reference = FundingHarvesterStrategy(cfg, COSTS), ReferenceHarvester(cfg, COSTS)
    fast_state, ref_state = fast.initial_state(), reference.initial_state()
    rate_st = st.sampled_from([-1e-4, 0.0, 1e-4, 2e-4, 3e-4, 5e-4])  # ties in net APR
    funding: dict[InstrumentId, FundingRate] = {}
    for step in range(n_steps):
        now_ms = T0_MS + step * H_MS
        prices: dict[InstrumentId, float] = {}
        for s in SYMBOLS:
            for i in (sid(s), pid(s)):
                price = data.draw(st.sampled_from([None, 100.0, 100.0, 100.0, math.nan]))
                if price is not None:
                    prices[i] = price
            if data.draw(st.booleans()):
                rate = data.draw(rate_st)
                funding[pid(s)] = FundingRate(pid(s), rate, H8_S, now_ms, now_ms + H8_S * 1000)
        priced = sorted(prices, key=str)
        stale = (
            frozenset(data.draw(st.sets(st.sampled_from(priced), max_size=2)))
            if priced
            else frozenset()
        )
        snapshot = MarketSnapshot(now_ms, {}, prices, dict(funding), {}, stale)
        held = {
            i: q
            for s, p in ref_state.positions.items()
            for i, q in ((sid(s), p.qty), (pid(s), -p.qty))
            if data.draw(st.booleans())
        }
        view = PortfolioView(100_000.0, 100_000.0, held)
        got = fast.decide(snapshot, view, fast_state, now_ms)
        want = reference.decide(snapshot, view, ref_state, now_ms)
        assert repr(got.intents) == repr(want.intents), f"step {step}"
        assert got.diagnostics == want.diagnostics, f"step {step}"
        fast_state, ref_state = got.state, want.state


def test_ranking_follows_new_rate_histories() -> None:
    """The ranking is kept with the estimates, so a new settlement ranks anew: B overtakes A
    once A's rate falls."""
    cfg = FundingHarvesterConfig(
        symbols=["AUSDT", "BUSDT"],
        rate_lookback_settlements=1,
        min_net_apr_frac=0.0,
        max_positions=1,
    )
    strategy = FundingHarvesterStrategy(cfg, COSTS)
    state = strategy.initial_state()
    view = PortfolioView(100_000.0, 100_000.0, {})  # entries never fill: re-entered each cycle

    def entered(rate_a_8h: float, now_ms: int) -> list[str]:
        nonlocal state
        funding = {
            pid(s): FundingRate(pid(s), rate, H8_S, now_ms, now_ms + H8_S * 1000)
            for s, rate in (("AUSDT", rate_a_8h), ("BUSDT", 4e-4))
        }
        prices = {i: 100.0 for s in ("AUSDT", "BUSDT") for i in (sid(s), pid(s))}
        snapshot = MarketSnapshot(now_ms, {}, prices, funding, {}, frozenset())
        decision = strategy.decide(snapshot, view, state, now_ms)
        state = decision.state
        return [i.legs[0].instrument_id.split(":")[-1] for i in decision.intents]

    assert entered(5e-4, T0_MS) == ["AUSDT"]
    assert entered(5e-4, T0_MS + H_MS) == ["AUSDT"]  # the same histories: the same ranking
    assert entered(3e-4, T0_MS + 2 * H_MS) == ["BUSDT"]
