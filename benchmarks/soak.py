"""Soak: 24 h of 1 s marks for 100 symbols × 4 venues through the live engine; RSS along the way.

Usage (from the repository root)::

    python benchmarks/soak.py               # 24 h of virtual time (86,400 mark ticks)
    python benchmarks/soak.py --hours 2     # a shorter run

The engine is built by ``agent.engine.builder.build_engine`` as a paper run on live data builds
it (``market_data.source = "live"``: paper venues, a resumable run writing its checkpoint), on
400 perps — 100 assets ``B000`` … ``B099`` on Binance, Bybit, OKX and Hyperliquid (each with its
own symbol form) — with ``[execution] drift_check = "ratio"`` and every built-in strategy off.
200 hourly closes are warmed in first, then 100 cross-venue pairs are opened (strategy
``soak``: long an asset on one venue, short it on another, 2,000 USD a leg) and stand.

Then, on a virtual clock, every second is one mark tick of all 400 marks (a seeded random walk
per asset, hourly volatility ≈ 1.2 %, plus a mean-reverting basis per venue, so the pairs'
notional ratios drift and are traded back now and then), through what the live driver
(``agent.supervisor._run_live``) does per mark: the live input guard (``LiveInputGuard.marks``,
which reports to venue health), ``Engine.mark_tick`` (market data, paper venues, the ledger
marked, breakers, kill switch, naked budgets), ``Engine.after_marks`` (flattens, the drift check
and its rebalances, the checkpoint) and ``Engine.review_safety`` (venue health, liquidation
distances). Every hour of virtual time is one live step (``guard.step`` then ``Engine.step``):
the hour's closes and the funding settled (Hyperliquid hourly, the others every 8 h).

RSS (``/proc/self/statm``, after ``gc.collect()``) is sampled every 15 minutes of virtual time.
Printed: the samples, RSS after the warm-up hour and at the end, the growth over the run and
the growth per hour over its second half, against goal 7 of issue 14: RSS < 200 MB and flat
(no growth after warm-up; "flat" here: less than 1 MB per hour over the second half).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.config import AgentConfig, load_config  # noqa: E402
from agent.engine.builder import build_engine, claim_journal  # noqa: E402
from agent.engine.engine import Engine  # noqa: E402
from agent.live.input_guard import LiveInputGuard  # noqa: E402
from agent.live.steps import LiveStep, MarkTick  # noqa: E402
from agent.logs import configure_logging  # noqa: E402
from strategies.base import PairIntent, TargetPosition  # noqa: E402
from venues.model import FundingRate, Instrument, InstrumentId, InstrumentKind  # noqa: E402
from venues.replay.guards import DataGuards  # noqa: E402

GOAL_RSS_MB = 200.0
GOAL_FLAT_MB_PER_H = 1.0
ASSETS = 100
VENUES = ("binance", "bybit", "okx", "hyperliquid")
PAIRS = 100
LEG_USD = 2000.0
H_MS = 3_600_000
T0_MS = 1_760_000_400_000  # a whole hour, UTC
WARM_HOURS = 200
SAMPLE_EVERY_S = 900
HOURLY_VOL = 0.012
BASIS_VOL_S = 0.0001
BASIS_REVERSION_S = 0.002
SEED = 14


def symbol(venue: str, base: str) -> str:
    """The venue's perp symbol form: ``B000USDT``, ``B000-USDT-SWAP`` (OKX), ``B000``
    (Hyperliquid)."""
    return {"okx": f"{base}-USDT-SWAP", "hyperliquid": base}.get(venue, f"{base}USDT")


def instruments() -> dict[InstrumentId, Instrument]:
    out = {}
    for venue in VENUES:
        for k in range(ASSETS):
            base = f"B{k:03d}"
            iid = InstrumentId(venue, InstrumentKind.PERP, symbol(venue, base))
            interval_s = 3600 if venue == "hyperliquid" else 28_800
            out[iid] = Instrument(
                iid,
                base,
                "USDT",
                Decimal("0.0001"),
                Decimal("0.001"),
                Decimal("0.001"),
                Decimal(5),
                Decimal(1),
                interval_s,
            )
    return out


def config(journal: Path) -> AgentConfig:
    """Paper on live data on the four venues (a quarter of the capital each), no strategies,
    ``drift_check = "ratio"``, exposure limits out of the way of 100 pairs."""
    off = {"enabled": False}
    share = {"enabled": True, "collateral_frac": 0.25}
    return load_config(
        None,
        env={},
        overrides={
            "mode": "paper",
            "market_data": {"source": "live"},
            "capital": {"initial_equity_usd": 2_000_000.0},
            "venues": dict.fromkeys(VENUES, share),
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


@dataclass(frozen=True, slots=True)
class Step:
    """A warm-up hour of closes (``MarketStep``)."""

    ts_ms: int
    closes: Mapping[InstrumentId, float]
    funding: tuple[FundingRate, ...] = ()
    volumes: Mapping[InstrumentId, float] = field(default_factory=dict)


class Market:
    """Seeded marks: a random walk per asset times a mean-reverting basis per venue."""

    def __init__(self, ids: list[InstrumentId]) -> None:
        self.ids = ids
        self.rng = np.random.default_rng(SEED)
        self.asset = np.log(10.0 + np.arange(ASSETS, dtype=np.float64))  # log price
        self.basis = np.zeros((len(VENUES), ASSETS))
        self.vol_s = HOURLY_VOL / 60.0

    def advance(self, seconds: int = 1) -> None:
        for _ in range(seconds):
            self.asset += self.rng.normal(0.0, self.vol_s, ASSETS)
            self.basis += -BASIS_REVERSION_S * self.basis + self.rng.normal(
                0.0, BASIS_VOL_S, self.basis.shape
            )

    def prices(self) -> dict[InstrumentId, float]:
        values = np.exp(self.asset[None, :] + self.basis).ravel()
        return dict(zip(self.ids, values.tolist(), strict=True))


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def soak(hours: float) -> tuple[list[tuple[float, float]], dict[str, float]]:
    """Run the soak; the RSS samples ``(virtual hours, MB)`` and the run's counters."""
    with tempfile.TemporaryDirectory(prefix="zerobeta-soak-") as tmp:
        cfg = config(Path(tmp) / "journal.sqlite")
        universe = instruments()
        ids = list(universe)  # venue-major: ids[v * ASSETS + k]
        market = Market(ids)
        async with AsyncExitStack() as stack:
            lock = claim_journal(cfg, stack)
            engine = await build_engine(
                cfg,
                [],
                stack,
                instruments=universe,
                first_ms=T0_MS - (WARM_HOURS + 1) * H_MS,
                journal_lock=lock,
            )
            guard = LiveInputGuard(DataGuards(), report=engine.safety.health.record)
            for k in range(WARM_HOURS, 0, -1):
                market.advance(60)  # a minute apart: a calm but real history
                closes = market.prices()
                guard.learn(closes)
                engine.warm(Step(T0_MS - k * H_MS, closes))
            await engine.step(guard.step(LiveStep(T0_MS, market.prices(), ())))
            await open_pairs(engine, ids)
            samples = await run(engine, guard, market, hours)
            counters = {
                **engine.counters(),
                **engine.between_steps.as_dict(),
                "live_inputs_rejected": guard.rejected,
            }
            return samples, counters


async def open_pairs(engine: Engine, ids: list[InstrumentId]) -> None:
    """``PAIRS`` standing pairs of strategy ``soak``: long asset k on one venue, short it on
    the next one."""
    prices = engine.market.prices
    for p in range(PAIRS):
        k, v = p % ASSETS, p % len(VENUES)
        long_id, short_id = ids[v * ASSETS + k], ids[((v + 1) % len(VENUES)) * ASSETS + k]
        legs = (
            TargetPosition(long_id, LEG_USD / prices[long_id]),
            TargetPosition(short_id, -LEG_USD / prices[short_id]),
        )
        intent = PairIntent(f"soak-{p}", legs, "soak")
        engine.runner.pairs.record("soak", [intent])
        outcome = await engine.executor.execute("soak", intent, prices, T0_MS)
        if outcome.status != "filled":
            raise RuntimeError(f"pair {p} did not open: {outcome}")


def funding(
    ids: list[InstrumentId], ts_ms: int, rng: np.random.Generator
) -> tuple[FundingRate, ...]:
    """The settlements at ``ts_ms``: Hyperliquid every hour, the others every 8 h."""
    out = []
    for iid in ids:
        interval_s = 3600 if iid.venue == "hyperliquid" else 28_800
        if ts_ms % (interval_s * 1000) == 0:
            rate = float(rng.normal(1e-5, 5e-5)) * interval_s / 3600
            out.append(FundingRate(iid, rate, interval_s, ts_ms, ts_ms + interval_s * 1000))
    return tuple(out)


async def run(
    engine: Engine, guard: LiveInputGuard, market: Market, hours: float
) -> list[tuple[float, float]]:
    gc.collect()
    samples = [(0.0, rss_mb())]
    seconds = int(hours * 3600)
    started = time.perf_counter()
    for s in range(1, seconds + 1):
        now_ms = T0_MS + s * 1000
        market.advance()
        prices = market.prices()
        if now_ms % H_MS == 0:  # the hour's closes and settlements, as the live feed steps
            rates = funding(market.ids, now_ms, market.rng)
            await engine.step(guard.step(LiveStep(now_ms, prices, rates)))
        await engine.mark_tick(guard.marks(MarkTick(now_ms, prices)))
        await engine.after_marks()
        await engine.review_safety()
        if s % SAMPLE_EVERY_S == 0:
            gc.collect()
            samples.append((s / 3600, rss_mb()))
            if s % (4 * 3600) == 0:
                elapsed = time.perf_counter() - started
                hour, mb = samples[-1]
                print(f"  {hour:5.1f} h virtual, {elapsed:6.0f} s wall, {mb:.1f} MB", flush=True)
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="virtual hours of marks")
    args = parser.parse_args(argv)
    # lines are rendered and written, not held (a StringIO would count in the RSS)
    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    configure_logging("warning", "json", sink)
    print(
        f"{ASSETS} assets x {len(VENUES)} venues = {ASSETS * len(VENUES)} perps, 1 s marks, "
        f"{args.hours:g} h virtual, {PAIRS} standing cross-venue pairs"
    )
    start = time.perf_counter()
    samples, counters = asyncio.run(soak(args.hours))
    wall = time.perf_counter() - start
    print(f"wall {wall:.0f} s ({args.hours * 3600 / wall:,.0f} mark ticks/s); counters: {counters}")
    print("RSS samples (virtual h: MB): " + ", ".join(f"{h:g}: {mb:.1f}" for h, mb in samples))
    warm = next((mb for h, mb in samples if h >= 1.0), samples[0][1])
    end = samples[-1][1]
    half = [(h, mb) for h, mb in samples if h >= samples[-1][0] / 2]
    slope = (
        float(np.polyfit([h for h, _ in half], [mb for _, mb in half], 1)[0])
        if len(half) >= 2
        else float("nan")
    )
    rss_ok = "met" if max(mb for _, mb in samples) < GOAL_RSS_MB else "NOT met"
    flat_ok = "met" if slope < GOAL_FLAT_MB_PER_H else "NOT met"
    print(
        f"RSS after warm-up (1 h) {warm:.1f} MB, at the end {end:.1f} MB, "
        f"growth {end - warm:+.1f} MB; second half {slope:+.2f} MB/h"
    )
    print(
        f"goal RSS < {GOAL_RSS_MB:.0f} MB: {rss_ok}; goal flat (< {GOAL_FLAT_MB_PER_H:g} MB/h "
        f"over the second half): {flat_ok}"
    )


if __name__ == "__main__":
    main()
