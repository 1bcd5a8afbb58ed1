"""Reaction: in-process time from a mark that breaches a pair's drift to the order request leaving.

Usage (from the repository root)::

    python benchmarks/reaction.py                 # 2,000 events
    python benchmarks/reaction.py --events 20000

The live engine's path for one streamed mark, as ``agent.supervisor._run_live`` runs it:
the live input guard (``LiveInputGuard.marks``: plausibility against the recent closes), then
``Engine.mark_tick`` (market data, the ledger marked, breakers, kill switch, naked budgets),
then ``Engine.after_marks`` (breaker/halt flatten, then the drift check of the standing pairs:
``Executor.drifted`` → ``Executor.execute`` → risk check → the intent and the order journaled
ahead — a **durable** journal, ``mode = "live"``, synchronous=FULL on the temporary folder's
file system — → the venue client's ``place_order``), then ``Engine.review_safety``.

The engine is built by ``agent.engine.builder.build_engine`` exactly as a live run builds it
(``mode = "live"``, the venue handed as ``live_venues``), with ``[execution] drift_check =
"ratio"`` (default ``drift_frac`` 0.008): a mark that moves one leg of a standing pair moves the
pair's notional ratio, and the other leg is traded back. The venue is a fake whose
``place_order`` records ``time.perf_counter_ns()`` first, then answers with a paper venue's
fill (not timed). One pair stands (strategy ``bench``: long 0.5 BTC, short ETH of equal
notional); each event is a mark moving BTC by ±2 % (alternating) — a breach every time — fed
on a virtual clock one second apart, with one fresh hourly step of closes every hour of
virtual time as the live feed sends them. Reaction = place_order's timestamp − the timestamp
taken just before the guard; printed: p50, p90, p99, max over the events (after 100 warm-up
events), against goal 6 of issue 14: p50 < 250 µs, p99 < 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.config import AgentConfig, load_config  # noqa: E402
from agent.engine.builder import build_engine, claim_journal  # noqa: E402
from agent.engine.engine import Engine  # noqa: E402
from agent.live.input_guard import LiveInputGuard  # noqa: E402
from agent.live.steps import MarkTick  # noqa: E402
from agent.logs import configure_logging  # noqa: E402
from strategies.base import PairIntent, TargetPosition  # noqa: E402
from venues.model import (  # noqa: E402
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    OrderAck,
    OrderRequest,
    VenueFees,
)
from venues.paper import PaperVenue, PaperVenueConfig  # noqa: E402
from venues.replay.guards import DataGuards  # noqa: E402

GOAL_P50_US = 250.0
GOAL_P99_US = 1000.0
WARMUP_EVENTS = 100
H_MS = 3_600_000
T0_MS = 1_760_000_400_000  # a whole hour, UTC
BTC = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")
ETH = InstrumentId("binance", InstrumentKind.PERP, "ETHUSDT")
INSTRUMENTS = {
    BTC: Instrument(BTC, "BTC", "USDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"),
                    Decimal(100), Decimal(1), 28_800),
    ETH: Instrument(ETH, "ETH", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"),
                    Decimal(20), Decimal(1), 28_800),
}  # fmt: skip
BTC_USD, ETH_USD = 60_000.0, 3_000.0


class RecordingVenue:
    """A venue client whose ``place_order`` records when the request reached it, then fills it
    at the latest mark through a paper venue (the fill is not part of the reaction)."""

    name = "binance"

    def __init__(self, marks: Mapping[InstrumentId, float], now_ms: Any) -> None:
        self.sent_ns: list[tuple[int, int]] = []
        self._marks = marks
        self._paper = PaperVenue(
            PaperVenueConfig(
                name="binance",
                initial_collateral_usd=Decimal(1_000_000),
                perp_fees=VenueFees(Decimal("0.0002"), Decimal("0.0005")),
                spot_fees=VenueFees(Decimal("0.001"), Decimal("0.001")),
                slippage_bps=Decimal(0),
                perp_leverage=Decimal(5),
            ),
            INSTRUMENTS,
            now_ms,
        )

    async def place_order(self, request: OrderRequest) -> OrderAck:
        self.sent_ns.append((time.perf_counter_ns(), time.thread_time_ns()))
        self._paper.update_price(request.instrument_id, self._marks[request.instrument_id])
        return await self._paper.place_order(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._paper, name)


@dataclass(frozen=True, slots=True)
class Step:
    """An hourly step of closes (``MarketStep``)."""

    ts_ms: int
    closes: Mapping[InstrumentId, float]
    funding: tuple[FundingRate, ...] = ()
    volumes: Mapping[InstrumentId, float] = field(default_factory=dict)


def live_config(journal: Path, *, durable: bool) -> AgentConfig:
    """``mode = "live"`` on Binance alone (placeholder keys: nothing is sent anywhere) — or,
    not ``durable``, paper on live data (the same engine, a batching journal) —, no
    strategies, ``drift_check = "ratio"``, limits out of the way of a 60k USD pair."""
    off = {"enabled": False}
    return load_config(
        None,
        env={
            "ZEROBETA_VENUES__BINANCE__API_KEY": "placeholder",
            "ZEROBETA_VENUES__BINANCE__API_SECRET": "placeholder",
        },
        overrides={
            "mode": "live" if durable else "paper",
            "market_data": {"source": "live"},
            "venues": {"bybit": off, "hyperliquid": off},
            "execution": {"drift_check": "ratio"},
            "risk": {
                "max_position_frac": 1.0,
                "max_leverage": 10.0,
                "max_venue_frac": 1.0,
                "max_order_notional_usd": 1e9,
            },
            "journal": {"path": str(journal)},
            "logging": {"level": "warning"},
            "strategies": {
                name: off
                for name in (
                    "funding_harvester",
                    "stat_arb",
                    "factor_neutral",
                    "cross_venue_arb",
                    "beta_hedger",
                    "funding_flip_monitor",
                )
            },
        },
    )


async def measure(events: int, *, durable: bool) -> list[tuple[float, float]]:
    """Reaction of ``events`` breaching marks (after the warm-up): (wall, this thread's CPU)
    time from the mark to ``place_order``, microseconds."""
    with tempfile.TemporaryDirectory(prefix="zerobeta-reaction-") as tmp:
        cfg = live_config(Path(tmp) / "journal.sqlite", durable=durable)
        async with AsyncExitStack() as stack:
            lock = claim_journal(cfg, stack)
            marks: dict[InstrumentId, float] = {BTC: BTC_USD, ETH: ETH_USD}
            clock_ms = [T0_MS]
            venue = RecordingVenue(marks, lambda: clock_ms[0])
            engine = await build_engine(
                cfg,
                [],
                stack,
                instruments=INSTRUMENTS,
                first_ms=T0_MS - 200 * H_MS,
                journal_lock=lock,
                live_venues={"binance": venue},  # type: ignore[dict-item]
                live_cash_usd={"binance": Decimal(1_000_000)},
            )
            guard = LiveInputGuard(DataGuards(), report=engine.safety.health.record)
            for k in range(200, 0, -1):  # history the guard and the market data know
                closes = {BTC: BTC_USD * (1 + 0.001 * (k % 3)), ETH: ETH_USD}
                guard.learn(closes)
                engine.warm(Step(T0_MS - k * H_MS, closes))
            await engine.step(guard.step(Step(T0_MS, dict(marks))))
            await open_pair(engine)
            return await run_events(engine, guard, venue, marks, clock_ms, events)


async def open_pair(engine: Engine) -> None:
    """Strategy ``bench``: long 0.5 BTC, short the same notional of ETH, standing."""
    legs = (TargetPosition(BTC, 0.5), TargetPosition(ETH, -0.5 * BTC_USD / ETH_USD))
    intent = PairIntent("bench-open", legs, "bench")
    engine.runner.pairs.record("bench", [intent])
    outcome = await engine.executor.execute("bench", intent, engine.market.prices, T0_MS)
    if outcome.status != "filled":
        raise RuntimeError(f"the pair did not open: {outcome}")


async def run_events(
    engine: Engine,
    guard: LiveInputGuard,
    venue: RecordingVenue,
    marks: dict[InstrumentId, float],
    clock_ms: list[int],
    events: int,
) -> list[tuple[float, float]]:
    reactions_us = []
    for k in range(WARMUP_EVENTS + events):
        now_ms = T0_MS + (k + 1) * 1000
        clock_ms[0] = now_ms
        if now_ms % H_MS == 0:  # the hour's closes, as the live feed steps
            await engine.step(guard.step(Step(now_ms, dict(marks))))
        marks[BTC] = BTC_USD * (1.02 if k % 2 == 0 else 1.0)
        tick = MarkTick(now_ms, {BTC: marks[BTC]})
        sent = len(venue.sent_ns)
        start_cpu_ns = time.thread_time_ns()
        start_ns = time.perf_counter_ns()  # after the CPU clock: its call is not timed
        await engine.mark_tick(guard.marks(tick))
        await engine.after_marks()
        await engine.review_safety()
        if len(venue.sent_ns) == sent:
            raise RuntimeError(f"event {k}: the mark did not send an order (no drift breach)")
        if k >= WARMUP_EVENTS:
            sent_ns, sent_cpu_ns = venue.sent_ns[sent]
            reactions_us.append(((sent_ns - start_ns) / 1000, (sent_cpu_ns - start_cpu_ns) / 1000))
    return reactions_us


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> str:
    p50, p90, p99 = (percentile(values, q) for q in (0.5, 0.9, 0.99))
    return (
        f"p50 {p50:.0f} µs, p90 {p90:.0f} µs, p99 {p99:.0f} µs, max {max(values):.0f} µs, "
        f"mean {statistics.fmean(values):.0f} µs"
    )


def verdict(values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    ok50 = "met" if p50 < GOAL_P50_US else "NOT met"
    ok99 = "met" if p99 < GOAL_P99_US else "NOT met"
    return f"goal p50 < {GOAL_P50_US:.0f} µs: {ok50}; p99 < {GOAL_P99_US:.0f} µs: {ok99}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="breaching marks measured")
    args = parser.parse_args(argv)
    configure_logging("warning", "json", io.StringIO())
    print(f"mark -> guard -> mark_tick -> drift check -> place_order, {args.events:,} events")
    for durable, what in ((True, "live, durable journal"), (False, "paper on live data")):
        reactions = asyncio.run(measure(args.events, durable=durable))
        wall = [w for w, _ in reactions]
        cpu = [c for _, c in reactions]
        print(f"{what}:")
        print(f"  wall        {summary(wall)}   ({verdict(wall)})")
        print(f"  thread CPU  {summary(cpu)}   ({verdict(cpu)})")


if __name__ == "__main__":
    main()
