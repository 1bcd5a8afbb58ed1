"""The safety guard in a real engine (``build_engine`` on paper venues, a SQLite journal): a
leg near liquidation reduces its pair together with one alert; an unhealthy venue refuses
opening there, alerts and recovers; ``unhealthy_venue_policy = "reduce"`` closes the other
legs; a resumed run keeps both states without alerting again. The order desk reports each
venue call's outcome to venue health.

Paper fills here: slippage 2 bps against the taker, perp taker fee 5 bps (Binance) / 5.5 bps
(Bybit), rounded to the tick; every expected size is a half (or all) of a position on the lot
step, and the liquidation price is recomputed here from the venue's wallet balance with
Binance's cross-margin formula.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig
from agent.control.probe import engine_now
from agent.control.status import jsonable, read_status, status_to_dict
from agent.control.status_text import format_status
from agent.engine.builder import build_engine, claim_journal
from agent.engine.engine import Engine
from agent.engine.pair_book import PairBook
from agent.notify import Notice, Severity
from agent.risk import LIQUIDATION_DISTANCE_LOW, VENUE_UNHEALTHY
from strategies.base import Decision, PairIntent, TargetPosition
from tests.unit.test_execution import BTC as EXEC_BTC
from tests.unit.test_execution import make_rig, pair
from venues.errors import TransportError
from venues.model import FundingRate, Instrument, InstrumentId, InstrumentKind, Position, VenueFees
from venues.paper import PaperVenue, PaperVenueConfig

pytestmark = pytest.mark.timeout(60)

H = 3_600_000
T = 1_760_000_400_000  # a whole hour, UTC
BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
SOL = InstrumentId("binance", InstrumentKind.PERP, "SOLUSDT")
BYBIT_BTC = InstrumentId("bybit", InstrumentKind.PERP, "BTCUSDT")
INSTRUMENTS = {
    i: Instrument(i, i.symbol[:3], "USDT", D("0.01"), D("0.001"), D("0.001"), D(5), D(1), 28_800)
    for i in (BTC, SOL, BYBIT_BTC)
}
# Exposure limits and breakers out of the way: these tests are about the guard's own rules.
RISK = {
    "max_position_frac": 1.0,
    "max_leverage": 10.0,
    "max_venue_frac": 1.0,
    "max_order_notional_usd": 1e9,
    "daily_drawdown_frac": 0.9,
    "total_drawdown_frac": 0.95,
}
MMR = D("0.005")


@dataclass(frozen=True, slots=True)
class Step:
    """One hourly step (``MarketStep``)."""

    ts_ms: int
    closes: Mapping[InstrumentId, float]
    funding: Sequence[FundingRate] = ()
    volumes: Mapping[InstrumentId, float] = field(default_factory=dict)


def prices(ts_ms: int, btc: float = 60_000.0, sol: float = 150.0) -> Step:
    return Step(ts_ms, {BTC: btc, SOL: sol, BYBIT_BTC: 60_000.0})


class Sink:
    """An alert sink that keeps every notice."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)

    def kinds(self, *wanted: str) -> list[str]:
        return [n.kind for n in self.notices if n.kind in wanted]


class WallClock:
    """The wall clock venue health times failures by (settable, epoch ms)."""

    def __init__(self) -> None:
        self.ms = T

    def now_ms(self) -> int:
        return self.ms


@asynccontextmanager
async def engine_with(
    journal: Path,
    sink: Sink,
    clock: WallClock | None = None,
    *,
    overwrite: bool = True,
    **risk: Any,
) -> AsyncIterator[Engine]:
    """A paper engine on Binance BTC and SOL perps and the Bybit BTC perp, no strategies,
    its clock at T - 1h (capital 100 000: Binance 50 000, Bybit 25 000)."""
    cfg = AgentConfig(
        journal={"path": str(journal), "overwrite": overwrite},
        risk={**RISK, **risk},
    )
    async with AsyncExitStack() as stack:
        lock = claim_journal(cfg, stack)
        yield await build_engine(
            cfg,
            [],
            stack,
            instruments=INSTRUMENTS,
            first_ms=T - H,
            journal_lock=lock,
            alerts=sink,
            wall_clock=clock,
        )


async def trade(
    engine: Engine, strategy: str, legs: dict[InstrumentId, float], ts: int, opening: bool = True
) -> str:
    """Trade ``strategy`` to ``legs`` (targets) as one intent, recorded as its pair."""
    targets = tuple(TargetPosition(i, q) for i, q in legs.items())
    intent = PairIntent(f"{strategy}-{ts}-{sorted(legs)}", targets, "test", opening)
    engine.runner.pairs.record(strategy, [intent])
    outcome = await engine.executor.execute(strategy, intent, engine.market.prices, ts)
    return outcome.status


def alert_rows(engine: Engine, kind: str) -> list[tuple[Any, ...]]:
    return [row for row in engine.journal.dump_rows("alerts") if row[3] == kind]


def risk_rules(engine: Engine) -> list[tuple[str, str]]:
    """``(rule, detail)`` of every journaled risk event."""
    return [(row[2], row[7]) for row in engine.journal.dump_rows("risk_events")]


def cross_margin_lp(wallet: D, others_mm: D, others_upnl: D, qty: D, entry: D) -> D:
    """Binance USDⓈ-M cross margin, one-way mode, maintenance amount 0:
    LP = (WB − TMM1 + UPNL1 − Side1 × Position1 × EP1) / (Position1 × MMR1 − Side1 × Position1)."""
    side = 1 if qty > 0 else -1
    return (wallet - others_mm + others_upnl - side * abs(qty) * entry) / (
        abs(qty) * MMR - side * abs(qty)
    )


# ---- liquidation distance ------------------------------------------------------------------


async def test_a_leg_near_liquidation_reduces_its_pair_together_with_one_alert(
    tmp_path: Path,
) -> None:
    sink = Sink()
    async with engine_with(tmp_path / "j.sqlite", sink) as engine:
        await engine.step(prices(T))
        # The pair: short 1.5 BTC (90 000 notional on a 50 000 Binance wallet) and long 20 SOL.
        assert await trade(engine, "pairs", {BTC: -1.5, SOL: 20.0}, T) == "filled"
        # Another pair of the same strategy and another strategy: neither holds BTC on Binance.
        assert await trade(engine, "pairs", {BYBIT_BTC: 0.2}, T) == "filled"
        assert await trade(engine, "other", {SOL: 4.0}, T) == "filled"
        venue = engine.paper["binance"]
        btc_entry = (await venue.fetch_positions())[0].entry_price
        assert (await venue.fetch_positions())[0].instrument_id == BTC

        # BTC rallies to 87 000: the short is within 10 % of its liquidation price.
        (wallet,) = [b.total for b in await venue.fetch_balances() if b.asset == "USDT"]
        sol_held, sol_entry = D(24), (await venue.fetch_positions())[1].entry_price
        expected_lp = cross_margin_lp(
            wallet, sol_held * 150 * MMR, sol_held * (150 - sol_entry), D("-1.5"), btc_entry
        )
        assert (expected_lp - 87_000) / 87_000 < D("0.10")
        await engine.step(prices(T + H, btc=87_000.0))

        held = engine.portfolio.positions("pairs")
        assert held[BTC] == D("-0.75")  # both legs of the pair halved, together
        assert held[SOL] == D(10)
        assert held[BYBIT_BTC] == D("0.2")  # the strategy's other pair untouched
        assert engine.portfolio.positions("other") == {SOL: D(4)}  # another strategy's too
        (alert,) = alert_rows(engine, LIQUIDATION_DISTANCE_LOW)
        fields = json.loads(alert[5])
        assert fields["instrument"] == str(BTC)
        assert abs(D(fields["liquidation_price"]) - expected_lp) < D("1e-18")
        assert fields["liquidation_distance_frac"] == pytest.approx(
            float((expected_lp - 87_000) / 87_000), abs=1e-6
        )
        rows = engine.journal.dump_rows("intents")
        reductions = [r for r in rows if r[4] == "liquidation_distance_low"]
        assert len(reductions) == 1  # one closing intent
        assert reductions[0][5] == 0

        # Still near (between the limit and twice it) an hour later: no second alert, no
        # second reduction, and growing the short again is refused.
        await engine.step(prices(T + 2 * H, btc=87_000.0))
        assert engine.portfolio.positions("pairs")[BTC] == D("-0.75")
        assert await trade(engine, "pairs", {BTC: -1.5, SOL: 20.0}, T + 2 * H) == "risk_rejected"
        assert (LIQUIDATION_DISTANCE_LOW, str(BTC)) in risk_rules(engine)
        assert await trade(engine, "pairs", {BTC: -0.5, SOL: 20.0 / 3}, T + 2 * H) == "filled"
        assert len(alert_rows(engine, LIQUIDATION_DISTANCE_LOW)) == 1
    assert sink.kinds(LIQUIDATION_DISTANCE_LOW) == [LIQUIDATION_DISTANCE_LOW]
    (notice,) = [n for n in sink.notices if n.kind == LIQUIDATION_DISTANCE_LOW]
    assert notice.severity is Severity.ERROR


async def test_far_from_liquidation_nothing_happens_and_zero_turns_the_check_off(
    tmp_path: Path,
) -> None:
    for limit, name in ((0.10, "far.sqlite"), (0.0, "off.sqlite")):
        sink = Sink()
        async with engine_with(tmp_path / name, sink, liquidation_distance_frac=limit) as engine:
            await engine.step(prices(T))
            assert await trade(engine, "pairs", {BTC: -0.5, SOL: 20.0}, T) == "filled"
            btc = 87_000.0 if limit == 0 else 61_000.0  # off: even where it would act
            await engine.step(prices(T + H, btc=btc))
            assert engine.portfolio.positions("pairs") == {BTC: D("-0.5"), SOL: D(20)}
            assert alert_rows(engine, LIQUIDATION_DISTANCE_LOW) == []
            legs = {leg.instrument_id: leg.distance_frac for leg in engine.safety.status().legs}
            if limit == 0:
                assert legs == {}  # nothing read at all
                continue
            assert set(legs) == {BTC, SOL}
            assert legs[SOL] is None  # the SOL long cannot be liquidated (LP < 0)
            assert legs[BTC] is not None
            assert legs[BTC] > 2 * limit


# ---- venue health ---------------------------------------------------------------------------


async def test_an_unhealthy_venue_refuses_opening_there_alerts_and_recovers(
    tmp_path: Path,
) -> None:
    sink, clock = Sink(), WallClock()
    async with engine_with(tmp_path / "j.sqlite", sink, clock) as engine:
        await engine.step(prices(T))
        assert await trade(engine, "arb", {BYBIT_BTC: -0.1}, T) == "filled"
        health = engine.safety.health
        for _ in range(3):  # Bybit stops answering: 0, 61, 122 s
            health.record("bybit", TransportError("connection reset", venue="bybit"))
            clock.ms += 61_000
        await engine.step(prices(T + H))
        assert engine.risk.refused_targets(VENUE_UNHEALTHY) == {"bybit": (120.0, 122.0)}

        opening = {BTC: 0.1, BYBIT_BTC: -0.2}
        assert await trade(engine, "arb", opening, T + H) == "risk_rejected"
        assert risk_rules(engine) == [(VENUE_UNHEALTHY, "bybit")]
        assert engine.portfolio.positions("arb") == {BYBIT_BTC: D("-0.1")}  # nothing sent
        assert await trade(engine, "solo", {BTC: 0.1}, T + H) == "filled"  # other venues open
        closing = await trade(engine, "arb", {BYBIT_BTC: -0.05}, T + H, opening=False)
        assert closing == "filled"  # closing is never refused

        clock.ms += 30_000
        health.record("bybit")  # it answers again
        await engine.review_safety()
        assert engine.risk.refused_targets(VENUE_UNHEALTHY) == {}
        assert await trade(engine, "arb", opening, T + H + 1) == "filled"
        kinds = [row[3] for row in engine.journal.dump_rows("alerts")]
    assert kinds == ["venue_unhealthy", "venue_recovered"]
    unhealthy, recovered = (n for n in sink.notices if n.kind.startswith("venue_"))
    assert (unhealthy.key, unhealthy.severity) == ("bybit", Severity.ERROR)
    assert unhealthy.fields["failing_s"] == 122.0
    assert "connection reset" in str(unhealthy.fields["error"])
    assert recovered.key == "bybit"


@pytest.mark.parametrize(("policy", "binance_btc_left"), [("reduce", None), ("hold", D("0.1"))])
async def test_the_unhealthy_venue_policy_for_the_other_legs(
    tmp_path: Path, policy: str, binance_btc_left: D | None
) -> None:
    sink, clock = Sink(), WallClock()
    async with engine_with(
        tmp_path / "j.sqlite", sink, clock, unhealthy_venue_policy=policy
    ) as engine:
        await engine.step(prices(T))
        assert await trade(engine, "arb", {BTC: 0.1, BYBIT_BTC: -0.1}, T) == "filled"
        assert await trade(engine, "arb", {SOL: 10.0}, T) == "filled"  # a pair of its own
        for _ in range(3):
            engine.safety.health.record("bybit", TransportError("down", venue="bybit"))
            clock.ms += 61_000
        await engine.step(prices(T + H))
        held = engine.portfolio.positions("arb")
    assert held.get(BTC) == binance_btc_left  # reduce: the Binance leg closed
    assert held[BYBIT_BTC] == D("-0.1")  # the leg on the unhealthy venue is left alone
    assert held[SOL] == D(10)  # a pair without a leg there is left alone


async def test_a_resumed_run_keeps_the_guard_state_without_alerting_again(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "resumable.sqlite"
    sink, clock = Sink(), WallClock()
    async with engine_with(journal, sink, clock, overwrite=False) as engine:
        await engine.step(prices(T))
        assert await trade(engine, "pairs", {BTC: -1.5, SOL: 20.0}, T) == "filled"
        for _ in range(3):
            engine.safety.health.record("bybit", TransportError("down", venue="bybit"))
            clock.ms += 61_000
        await engine.step(prices(T + H, btc=87_000.0))  # checkpointed with the step
        assert sink.kinds("venue_unhealthy", LIQUIDATION_DISTANCE_LOW) == [
            "venue_unhealthy",
            LIQUIDATION_DISTANCE_LOW,
        ]
        positions = await engine.paper["binance"].fetch_positions()
        (btc_lp_after,) = [p.liquidation_price for p in positions if p.instrument_id == BTC]
        assert btc_lp_after is not None

        now = engine_now(engine, None, clock.ms)
        (bybit,) = [v for v in now.venue_health if v.venue == "bybit"]
        assert (bybit.healthy, bybit.channel, bybit.rest_failures) == (False, "rest", 3)
        assert [(leg.instrument, leg.low) for leg in now.liquidation] == [
            (str(BTC), True),
            (str(SOL), False),
        ]
        live = {"process": {}, "health": {}, "engine": jsonable(now)}
        assert json.dumps(live, allow_nan=False)
        text = format_status(replace(read_status(journal, limits=None, wall_ms=None), live=live))
        assert "bybit UNHEALTHY (rest failing 2.0 min)" in text
        assert f"nearest liquidation: {BTC} " in text

    status = read_status(journal, limits=None, wall_ms=None)
    assert status.safety is not None
    assert status.safety.ts_ms == T + H
    assert status.safety.unhealthy_venues == ("bybit",)
    assert status.safety.low_instruments == (str(BTC),)
    legs = {leg.instrument: leg for leg in status.safety.legs}
    assert set(legs) == {str(BTC), str(SOL)}
    assert legs[str(BTC)].qty == D("-0.75")  # read again after the reduction
    assert legs[str(BTC)].liquidation_price_usd == btc_lp_after
    assert legs[str(BTC)].distance_frac == pytest.approx(float((btc_lp_after - 87_000) / 87_000))
    assert legs[str(BTC)].low
    assert legs[str(SOL)].liquidation_price_usd is None
    assert not legs[str(SOL)].low
    text = format_status(status)
    assert "venues: UNHEALTHY (opening there refused): bybit" in text
    assert "LOW: opening refused" in text
    assert json.dumps(status_to_dict(status), allow_nan=False)

    resumed_sink = Sink()
    async with engine_with(journal, resumed_sink, clock, overwrite=False) as engine:
        assert engine.resumed_from_ms == T + H
        assert set(engine.risk.refused_targets(VENUE_UNHEALTHY)) == {"bybit"}
        assert set(engine.risk.refused_targets(LIQUIDATION_DISTANCE_LOW)) == {str(BTC)}
        await engine.step(prices(T + 2 * H, btc=87_000.0))
        assert resumed_sink.kinds("venue_unhealthy", LIQUIDATION_DISTANCE_LOW) == []
        clock.ms += 1_000
        engine.safety.health.record("bybit")
        await engine.step(prices(T + 3 * H, btc=60_000.0))
        assert resumed_sink.kinds("venue_recovered") == ["venue_recovered"]
        assert engine.risk.refused_targets(VENUE_UNHEALTHY) == {}
        assert engine.risk.refused_targets(LIQUIDATION_DISTANCE_LOW) == {}  # far again


# ---- what feeds venue health ----------------------------------------------------------------


async def test_the_order_desk_reports_every_venue_call() -> None:
    rig = make_rig()
    seen: list[tuple[str, str | None]] = []

    def record(venue: str, error: BaseException | None) -> None:
        seen.append((venue, None if error is None else type(error).__name__))

    rig.executor.desk.on_venue_result = record
    rig.venue.place[EXEC_BTC] = ["lost", "reject"]  # then "fill"
    rig.venue.lookup[EXEC_BTC] = ["timeout"]
    await rig.run(pair(0.01, 0.0, "i-1"))  # not answered, and the lookup neither
    assert seen == [("binance", "RequestTimeout"), ("binance", "RequestTimeout")]
    seen.clear()
    await rig.run(pair(0.02, 0.0, "i-2"))  # rejected: the venue answered
    await rig.run(pair(0.03, 0.0, "i-3"))  # filled
    assert seen == [("binance", None), ("binance", None)]


class FlakyVenue(PaperVenue):
    """A paper venue standing in for a live client whose position reads can fail."""

    failing = False

    async def fetch_positions(self) -> list[Position]:
        if self.failing:
            raise TransportError("read timed out", venue=self.name)
        return await super().fetch_positions()


async def test_a_live_venue_s_failing_position_reads_make_it_unhealthy(tmp_path: Path) -> None:
    """Live wiring: the guard's own position reads report to venue health."""
    clock, sink = WallClock(), Sink()
    own = {i: inst for i, inst in INSTRUMENTS.items() if i.venue == "binance"}
    config = PaperVenueConfig(
        "binance", D(50_000), VenueFees(D(0), D(0)), VenueFees(D(0), D(0)), D(0), D(3)
    )
    flaky = FlakyVenue(config, own, clock.now_ms)
    cfg = AgentConfig(
        mode="paper",
        journal={"path": str(tmp_path / "live.sqlite")},
        risk=RISK,
        venues={"bybit": {"enabled": False, "collateral_frac": 0.0}},
    )
    async with AsyncExitStack() as stack:
        lock = claim_journal(cfg, stack)
        engine = await build_engine(
            cfg,
            [],
            stack,
            instruments=own,
            first_ms=T - H,
            journal_lock=lock,
            live_venues={"binance": flaky},
            live_cash_usd={"binance": D(50_000)},
            alerts=sink,
            wall_clock=clock,
        )
        flaky.update_price(BTC, 60_000.0)
        flaky.update_price(SOL, 150.0)
        await engine.step(Step(T, {BTC: 60_000.0, SOL: 150.0}))
        assert await trade(engine, "pairs", {BTC: -0.1}, T) == "filled"
        await engine.review_safety()  # reads the positions: the venue answers
        flaky.failing = True
        for _ in range(3):  # 0, 61, 122 s of failed reads
            await engine.review_safety()
            clock.ms += 61_000
        flaky.failing = False
        await engine.review_safety()
    kinds = ["venue_unhealthy", "venue_recovered"]
    assert sink.kinds(*kinds) == kinds
    unhealthy = next(n for n in sink.notices if n.kind == "venue_unhealthy")
    assert unhealthy.fields["failing_s"] == 122.0
    assert "read timed out" in str(unhealthy.fields["error"])


# ---- with a strategy deciding: its pairs from its own intents -------------------------------


@dataclass(frozen=True, slots=True)
class Held:
    """The stand-in strategy's state: the cycles it ran."""

    cycles: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"cycles": self.cycles}


class TwoPairs:
    """A strategy holding two pairs, restating both every hour (``hold`` at its entry size,
    opening when a leg is below it) as the built-in strategies do."""

    name = "two_pairs"
    cadence_s = 3600
    refit_every_s = None
    history_bars = 1
    PAIRS = ({BTC: -1.5, SOL: 20.0}, {BYBIT_BTC: 0.2})

    def instruments(self) -> list[InstrumentId]:
        return [BTC, SOL, BYBIT_BTC]

    def initial_state(self) -> Held:
        return Held()

    def load_state(self, data: Mapping[str, Any]) -> Held:
        return Held(int(data["cycles"]))

    def refit(self, snapshot: Any, state: Held, now_ms: int) -> Held:
        return state

    def decide(self, snapshot: Any, portfolio: Any, state: Held, now_ms: int) -> Any:
        intents = []
        for k, legs in enumerate(self.PAIRS):
            held = portfolio.positions
            opening = any(abs(q) > abs(held.get(i, 0.0)) for i, q in legs.items())
            targets = tuple(TargetPosition(i, q) for i, q in legs.items())
            intents.append(PairIntent(f"p{k}-{now_ms}", targets, "hold", opening))
        return Decision(tuple(intents), Held(state.cycles + 1))


async def test_a_strategy_s_pair_is_reduced_and_its_hold_does_not_grow_it_back(
    tmp_path: Path,
) -> None:
    sink = Sink()
    cfg = AgentConfig(journal={"path": str(tmp_path / "j.sqlite")}, risk=RISK)
    async with AsyncExitStack() as stack:
        lock = claim_journal(cfg, stack)
        engine = await build_engine(
            cfg, [TwoPairs()], stack, instruments=INSTRUMENTS, first_ms=T - H,
            journal_lock=lock, alerts=sink,
        )  # fmt: skip
        await engine.step(prices(T))  # enters both pairs
        assert engine.portfolio.positions("two_pairs") == {
            BTC: D("-1.5"), SOL: D(20), BYBIT_BTC: D("0.2"),
        }  # fmt: skip
        await engine.step(prices(T + H, btc=87_000.0))  # the short nears its liquidation
        reduced = {BTC: D("-0.75"), SOL: D(10), BYBIT_BTC: D("0.2")}
        assert engine.portfolio.positions("two_pairs") == reduced  # its pair, not the other
        await engine.step(prices(T + 2 * H, btc=87_000.0))  # the hold is refused, not traded
        assert engine.portfolio.positions("two_pairs") == reduced
        refused = [r for r in risk_rules(engine) if r[0] == LIQUIDATION_DISTANCE_LOW]
    assert refused == [(LIQUIDATION_DISTANCE_LOW, str(BTC))]
    assert sink.kinds(LIQUIDATION_DISTANCE_LOW) == [LIQUIDATION_DISTANCE_LOW]


def test_a_pair_is_the_last_intent_naming_a_leg_and_the_whole_book_before_any() -> None:
    book = PairBook()
    held = {BTC, SOL, BYBIT_BTC}
    assert book.pair_of("s", BTC, held) == held  # nothing decided yet: the whole book
    book.record("s", [PairIntent("a", (TargetPosition(BTC, -1), TargetPosition(SOL, 2)), "x")])
    book.record("s", [PairIntent("b", (TargetPosition(BYBIT_BTC, 1),), "x")])
    assert book.pair_of("s", BTC, held) == {BTC, SOL}
    assert book.pair_of("s", BYBIT_BTC, held) == {BYBIT_BTC}
    assert book.pair_of("s", BTC, {BTC}) == {BTC}  # SOL no longer held
    assert book.pair_of("t", BTC, {BTC, SOL}) == {BTC, SOL}  # another strategy: its own book
    book.record("s", [PairIntent("c", (TargetPosition(SOL, 2), TargetPosition(BYBIT_BTC, 1)), "x")])
    assert book.pair_of("s", SOL, held) == {SOL, BYBIT_BTC}  # the last intent wins
