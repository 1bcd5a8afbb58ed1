"""Pre-trade risk rules and drawdown circuit breakers.

Every expected ``value`` is worked out by hand in the comments from the positions, prices and
equity of the test (notional = |qty| × price; fractions of equity), never read back from the
engine.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from agent.config import RiskConfig
from agent.errors import RiskRejected
from agent.risk import (
    DAY_MS,
    LIQUIDATION_DISTANCE_LOW,
    VENUE_UNHEALTHY,
    LegDelta,
    RiskEngine,
)
from venues.model import InstrumentId, InstrumentKind

BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
SOL = InstrumentId("binance", InstrumentKind.PERP, "SOLUSDT")
BTC_SPOT = InstrumentId("binance", InstrumentKind.SPOT, "BTCUSDT")
BYBIT_BTC = InstrumentId("bybit", InstrumentKind.PERP, "BTCUSDT")
OKX_BTC = InstrumentId("okx", InstrumentKind.PERP, "BTC-USDT-SWAP")
PRICES = {BTC: 50_000.0, ETH: 2_500.0, SOL: 100.0, BTC_SPOT: 50_000.0, BYBIT_BTC: 50_000.0}
PRICES[OKX_BTC] = 50_000.0
EQUITY_USD = 100_000.0
LEVERAGE = {"binance": 5.0, "bybit": 2.0}
# 2023-11-15 00:00:00 UTC, a day boundary (1_700_006_400_000 = 19_676 × 86_400_000).
DAY0_MS = 19_676 * DAY_MS
HOUR_MS = 3_600_000

LOOSE = {
    "max_position_frac": 1.0,
    "max_leverage": 10.0,
    "max_venue_frac": 1.0,
    "max_order_notional_usd": 1e9,
}


def engine(**limits: float) -> RiskEngine:
    return RiskEngine(RiskConfig(**{**LOOSE, **limits}), LEVERAGE, EQUITY_USD)


def check(
    risk: RiskEngine,
    legs: list[tuple[InstrumentId, str]],
    positions: dict[InstrumentId, D] | None = None,
    *,
    opening: bool = True,
    equity_usd: float = EQUITY_USD,
) -> RiskRejected | None:
    deltas = [LegDelta(iid, D(qty), PRICES[iid]) for iid, qty in legs]
    return risk.check(deltas, positions or {}, PRICES, equity_usd, opening)


def assert_rejected(
    result: RiskRejected | None, rule: str, limit: float, value: float, detail: str = ""
) -> None:
    assert result is not None, f"expected a {rule} rejection"
    assert (result.rule, result.limit) == (rule, limit)
    assert result.value == pytest.approx(value, rel=1e-12)
    assert result.detail == detail


# ---- max_order_notional_usd ----------------------------------------------------------------


def test_order_notional_at_the_limit_passes_above_rejects() -> None:
    risk = engine(max_order_notional_usd=10_000.0)
    # 0.2 BTC × 50,000 = 10,000 USD: equal to the limit, not above it.
    assert check(risk, [(BTC, "0.2")]) is None
    # 0.25 BTC × 50,000 = 12,500 USD > 10,000; a short counts by its absolute notional.
    assert_rejected(
        check(risk, [(BTC, "-0.25")]), "max_order_notional_usd", 10_000.0, 12_500.0, str(BTC)
    )


def test_order_notional_rejects_on_the_offending_leg_of_a_pair() -> None:
    risk = engine(max_order_notional_usd=10_000.0)
    # BTC 0.1 × 50,000 = 5,000 passes; ETH 6 × 2,500 = 15,000 breaks the limit.
    result = check(risk, [(BTC, "0.1"), (ETH, "-6")])
    assert_rejected(result, "max_order_notional_usd", 10_000.0, 15_000.0, str(ETH))


# ---- max_position_frac ---------------------------------------------------------------------


def test_position_frac_rejects_with_the_post_trade_fraction() -> None:
    risk = engine(max_position_frac=0.10)
    # Held 0.1 BTC (5,000 USD); +0.1 → 0.2 × 50,000 / 100,000 = 0.10: at the limit, passes.
    assert check(risk, [(BTC, "0.1")], {BTC: D("0.1")}) is None
    # +0.11 → 0.21 × 50,000 / 100,000 = 0.105 > 0.10.
    assert_rejected(
        check(risk, [(BTC, "0.11")], {BTC: D("0.1")}), "max_position_frac", 0.10, 0.105, str(BTC)
    )


def test_position_frac_uses_current_equity() -> None:
    risk = engine(max_position_frac=0.10)
    # After losses equity is 40,000: 0.1 BTC = 5,000 / 40,000 = 0.125 > 0.10.
    result = check(risk, [(BTC, "0.1")], equity_usd=40_000.0)
    assert_rejected(result, "max_position_frac", 0.10, 0.125, str(BTC))


def test_position_flip_that_grows_exposure_is_rejected() -> None:
    risk = engine(max_position_frac=0.30)
    # Long 0.2 BTC (0.10 of equity) sold 1.0 → short 0.8 BTC = 40,000 / 100,000 = 0.40.
    result = check(risk, [(BTC, "-1.0")], {BTC: D("0.2")})
    assert_rejected(result, "max_position_frac", 0.30, 0.40, str(BTC))


# ---- max_leverage --------------------------------------------------------------------------


def test_leverage_rejects_with_post_trade_gross_over_equity() -> None:
    risk = engine(max_leverage=1.2)
    held = {BTC: D(1), ETH: D(-20)}  # 50,000 + 50,000 = 100,000 gross: 1.0×
    # +200 SOL × 100 = 20,000 → 120,000 / 100,000 = 1.2×: at the limit.
    assert check(risk, [(SOL, "200")], held) is None
    # +300 SOL → 130,000 / 100,000 = 1.3×.
    assert_rejected(check(risk, [(SOL, "300")], held), "max_leverage", 1.2, 1.3)


# ---- max_venue_frac ------------------------------------------------------------------------


def test_venue_frac_counts_spot_in_full_and_perps_over_their_leverage() -> None:
    risk = engine(max_venue_frac=0.30)
    held = {ETH: D(-20)}  # binance perp 50,000 / 5× leverage = 10,000 committed
    # +0.4 spot BTC = 20,000 committed in full → (20,000 + 10,000) / 100,000 = 0.30.
    assert check(risk, [(BTC_SPOT, "0.4")], held) is None
    # +0.5 spot BTC = 25,000 → 35,000 / 100,000 = 0.35 > 0.30.
    assert_rejected(check(risk, [(BTC_SPOT, "0.5")], held), "max_venue_frac", 0.30, 0.35, "binance")


def test_venue_frac_uses_each_venues_perp_leverage() -> None:
    risk = engine(max_venue_frac=0.30)
    # bybit at 2×: 1.2 BTC × 50,000 / 2 = 30,000 → 0.30, passes.
    assert check(risk, [(BYBIT_BTC, "1.2")]) is None
    # 1.4 BTC × 50,000 / 2 = 35,000 → 0.35.
    assert_rejected(check(risk, [(BYBIT_BTC, "1.4")]), "max_venue_frac", 0.30, 0.35, "bybit")
    # The same 1.4 BTC on binance at 5× commits 14,000 → 0.14: passes.
    assert check(risk, [(BTC, "1.4")]) is None


def test_venue_frac_unknown_leverage_counts_perp_in_full() -> None:
    risk = engine(max_venue_frac=0.30)
    # okx has no leverage entry → 1×: 0.7 BTC × 50,000 = 35,000 → 0.35.
    assert_rejected(check(risk, [(OKX_BTC, "0.7")]), "max_venue_frac", 0.30, 0.35, "okx")


def test_venue_frac_is_measured_per_venue_of_a_cross_venue_pair() -> None:
    risk = engine(max_venue_frac=0.30)
    # binance: 2 BTC × 50,000 / 5 = 20,000 → 0.20; bybit: 2 × 50,000 / 2 = 50,000 → 0.50.
    result = check(risk, [(BTC, "2"), (BYBIT_BTC, "-2")])
    assert_rejected(result, "max_venue_frac", 0.30, 0.50, "bybit")


# ---- reducing orders always pass -----------------------------------------------------------


def test_reducing_orders_pass_every_rule_even_over_the_limits() -> None:
    risk = engine(
        max_position_frac=0.10,
        max_leverage=0.5,
        max_venue_frac=0.05,
        max_order_notional_usd=10_000.0,
    )
    held = {BTC: D(2), ETH: D(-20)}  # 100,000 + 50,000: every limit above is already exceeded
    # Closing 2 BTC is a 100,000 USD order (> 10,000) but only reduces exposure.
    assert check(risk, [(BTC, "-2")], held, opening=False) is None
    # A partial reduction of both legs (still over every limit afterwards) passes too.
    assert check(risk, [(BTC, "-1"), (ETH, "10")], held, opening=False) is None


def test_a_closing_intent_is_never_refused() -> None:
    # opening=False means "closes the strategy's own position" (the executor checks that): a
    # close that raises the NET exposure past a limit still goes out, or the leg is orphaned.
    risk = engine(max_order_notional_usd=10_000.0)
    assert check(risk, [(BTC, "0.3")], opening=False) is None
    assert_rejected(
        check(risk, [(BTC, "0.3")], opening=True), "max_order_notional_usd", 10_000.0, 15_000.0,
        str(BTC),
    )  # fmt: skip


# ---- circuit breakers ----------------------------------------------------------------------


def test_daily_breaker_trips_blocks_opening_and_reports_the_drawdown() -> None:
    risk = engine()  # daily 0.05, total 0.10 (defaults)
    assert risk.update_equity(DAY0_MS + HOUR_MS, 100_000.0) == []
    assert risk.update_equity(DAY0_MS + 2 * HOUR_MS, 95_500.0) == []  # 4.5 % < 5 %
    events = risk.update_equity(DAY0_MS + 3 * HOUR_MS, 94_000.0)
    # 1 − 94,000 / 100,000 = 0.06 ≥ 0.05.
    assert [(e.rule, e.limit, e.ts_ms) for e in events] == [
        ("daily_drawdown", 0.05, DAY0_MS + 3 * HOUR_MS)
    ]
    assert events[0].value == pytest.approx(0.06)
    assert risk.daily_halted
    assert risk.halted
    assert not risk.total_halted
    assert_rejected(
        check(risk, [(BTC, "0.01")]),
        "daily_drawdown",
        0.05,
        0.06,
        "circuit breaker active; opening blocked",
    )
    # A breaker only blocks opening intents: an exit still goes out.
    assert check(risk, [(BTC, "-0.01")], {BTC: D("0.01")}, opening=False) is None
    # Tripped once: no second event while it stays tripped.
    assert risk.update_equity(DAY0_MS + 4 * HOUR_MS, 93_000.0) == []


def test_daily_breaker_measures_from_the_initial_equity_on_the_first_update() -> None:
    # The engine starts at 100,000; the very first mark already shows a 6 % loss.
    risk = engine()
    events = risk.update_equity(DAY0_MS + HOUR_MS, 94_000.0)
    assert [e.rule for e in events] == ["daily_drawdown"]
    assert events[0].value == pytest.approx(0.06)


def test_daily_breaker_resets_at_the_next_utc_day() -> None:
    risk = engine(total_drawdown_frac=0.20)
    risk.update_equity(DAY0_MS + HOUR_MS, 100_000.0)
    risk.update_equity(DAY0_MS + 2 * HOUR_MS, 94_000.0)
    assert risk.daily_halted
    # 23:59:59.999 of the same UTC day: still the same day, still halted.
    assert risk.update_equity(DAY0_MS + DAY_MS - 1, 94_000.0) == []
    assert risk.daily_halted
    # 00:00:00.000 of the next UTC day: day-open equity becomes 94,000, breaker released.
    assert risk.update_equity(DAY0_MS + DAY_MS, 94_000.0) == []
    assert not risk.halted
    assert check(risk, [(BTC, "0.01")]) is None
    # The new day measures from 94,000: 1 − 89,000 / 94,000 = 0.0531915 ≥ 0.05.
    events = risk.update_equity(DAY0_MS + DAY_MS + HOUR_MS, 89_000.0)
    assert [e.rule for e in events] == ["daily_drawdown"]
    assert events[0].value == pytest.approx(1 - 89_000 / 94_000)


def test_total_breaker_measures_from_the_high_water_mark_and_stays_tripped() -> None:
    risk = engine()
    risk.update_equity(DAY0_MS + HOUR_MS, 100_000.0)
    risk.update_equity(DAY0_MS + DAY_MS + HOUR_MS, 120_000.0)  # new peak on day 2
    # Day 3 opens at 111,000 (1 − 111/120 = 7.5 % from the peak: no breaker yet).
    assert risk.update_equity(DAY0_MS + 2 * DAY_MS, 111_000.0) == []
    # 107,000: daily 1 − 107/111 = 3.6 %; total 1 − 107,000 / 120,000 = 0.108333 ≥ 0.10.
    events = risk.update_equity(DAY0_MS + 2 * DAY_MS + HOUR_MS, 107_000.0)
    assert [(e.rule, e.limit) for e in events] == [("total_drawdown", 0.10)]
    assert events[0].value == pytest.approx(1 - 107_000 / 120_000)
    assert risk.total_halted
    assert not risk.daily_halted
    # Recovery and new UTC days do not release it.
    for day in range(3, 6):
        assert risk.update_equity(DAY0_MS + day * DAY_MS, 119_000.0) == []
    assert risk.total_halted
    assert_rejected(
        check(risk, [(BTC, "0.01")]),
        "total_drawdown",
        0.10,
        1 - 107_000 / 120_000,
        "circuit breaker active; opening blocked",
    )


def test_total_breaker_takes_precedence_over_the_daily_one() -> None:
    risk = engine()
    risk.update_equity(DAY0_MS + HOUR_MS, 100_000.0)
    # One update with a 12 % loss trips both: 1 − 88,000 / 100,000 = 0.12.
    events = risk.update_equity(DAY0_MS + 2 * HOUR_MS, 88_000.0)
    assert [e.rule for e in events] == ["daily_drawdown", "total_drawdown"]
    assert_rejected(
        check(risk, [(BTC, "0.01")]),
        "total_drawdown",
        0.10,
        0.12,
        "circuit breaker active; opening blocked",
    )


def test_risk_rejected_message_names_rule_value_and_limit() -> None:
    result = check(engine(max_order_notional_usd=10_000.0), [(BTC, "0.25")])
    assert result is not None
    assert "max_order_notional_usd" in str(result)
    assert "12500" in str(result)
    assert "10000" in str(result)


def test_a_halt_blocks_opening_survives_a_restart_and_can_be_lifted() -> None:
    risk = engine()
    risk.halt(DAY0_MS, value=-0.001)
    assert risk.halted
    assert not risk.daily_halted
    assert not risk.total_halted
    assert_rejected(
        check(risk, [(BTC, "0.01")]),
        "position_mismatch",
        0.0,
        -0.001,
        "circuit breaker active; opening blocked",
    )
    assert check(risk, [(BTC, "-0.01")], {BTC: D("0.01")}, opening=False) is None
    restarted = engine()
    restarted.restore(risk.state())
    assert restarted.halted
    restarted.resume_opening()
    assert not restarted.halted
    assert check(restarted, [(BTC, "0.01")]) is None


# ---- refusals set by the safety guard ------------------------------------------------------


def test_an_unhealthy_venue_refuses_opening_intents_with_a_leg_there() -> None:
    risk = engine()
    risk.refuse_opening_on(VENUE_UNHEALTHY, "bybit", 120.0, 185.0)
    held = {BYBIT_BTC: D("0.5")}
    # A pair with a leg on Bybit: refused, whichever way that leg goes.
    refused = check(risk, [(BTC, "0.1"), (BYBIT_BTC, "-0.1")], held)
    assert_rejected(refused, VENUE_UNHEALTHY, 120.0, 185.0, "bybit")
    assert check(risk, [(BTC, "0.1"), (ETH, "-2")]) is None  # no leg there
    assert check(risk, [(BYBIT_BTC, "-0.5")], held, opening=False) is None  # closing passes
    risk.allow_opening_on(VENUE_UNHEALTHY, "bybit")
    assert check(risk, [(BTC, "0.1"), (BYBIT_BTC, "-0.1")], held) is None
    assert risk.refused_targets(VENUE_UNHEALTHY) == {}


def test_a_leg_near_liquidation_refuses_only_what_grows_it() -> None:
    risk = engine()
    risk.refuse_opening_on(LIQUIDATION_DISTANCE_LOW, str(BTC), 0.10, 0.07)
    short = {BTC: D("-1"), ETH: D("20")}
    grows = check(risk, [(BTC, "-0.5"), (ETH, "10")], short)
    assert_rejected(grows, LIQUIDATION_DISTANCE_LOW, 0.10, 0.07, str(BTC))
    flips = check(risk, [(BTC, "2.5")], short)  # past flat to a larger long: grows it
    assert_rejected(flips, LIQUIDATION_DISTANCE_LOW, 0.10, 0.07, str(BTC))
    assert check(risk, [(BTC, "0.5"), (ETH, "-10")], short) is None  # shrinks the short
    assert check(risk, [(BYBIT_BTC, "1")], short) is None  # another instrument
    with pytest.raises(ValueError, match="unknown refusal rule"):
        risk.refuse_opening_on("kill_switch", "binance", 0.0, 0.0)


def test_opening_blocked_is_the_refusal_check_gives_every_opening_intent_while_halted() -> None:
    """What the executor asks first (:meth:`RiskEngine.opening_blocked`) is, field by field,
    the refusal :meth:`RiskEngine.check` returns for any opening intent, halted by each kind of
    halt in turn, and None once nothing halts (check then measures the exposure rules)."""
    risk = engine(max_order_notional_usd=1_000.0)
    assert risk.opening_blocked() is None
    risk.halt(DAY0_MS, value=-0.25)  # a position mismatch
    risk.update_equity(DAY0_MS, 94_000.0)  # 6 % below the day's open: daily breaker (5 %)
    risk.update_equity(DAY0_MS + HOUR_MS, 80_000.0)  # 20 % below the peak: total breaker (10 %)
    expected = [
        ("total_drawdown", 0.10, 0.20),
        ("daily_drawdown", 0.05, 0.06),
        ("position_mismatch", 0.0, -0.25),
    ]
    for rule, limit, value in expected:
        blocked = risk.opening_blocked()
        assert_rejected(blocked, rule, limit, value, "circuit breaker active; opening blocked")
        # Any legs: an order over max_order_notional_usd is refused by the halt all the same.
        for legs in ([(BTC, "0.01")], [(BTC, "1"), (ETH, "-20")]):
            refused = check(risk, legs)
            assert refused is not None
            assert blocked is not None
            assert _fields(refused) == _fields(blocked)
            assert str(refused) == str(blocked)
        if rule == "total_drawdown":
            tripped = {k: v for k, v in risk.state()["tripped"].items() if k != rule}
            risk.restore({**risk.state(), "tripped": tripped})
        elif rule == "daily_drawdown":
            risk.update_equity(DAY0_MS + DAY_MS, EQUITY_USD)  # next UTC day: the daily one lifts
    risk.resume_opening()
    assert risk.opening_blocked() is None
    assert_rejected(
        check(risk, [(BTC, "1")]), "max_order_notional_usd", 1_000.0, 50_000.0, str(BTC)
    )


def _fields(rejection: RiskRejected) -> tuple[str, float, float, str]:
    return (rejection.rule, rejection.limit, rejection.value, rejection.detail)
