"""The engine every run shares: paper venues, ledger, journal, market data, risk, execution and
the strategies, advanced one market event at a time.

A driver feeds it: the replay driver (recorded history, as fast as the CPU allows) or the live
driver (``agent.live.feed``: the venues' public data on the wall clock). Both hand it the same
hourly steps — the closes of the bars ending at ``ts_ms`` and the funding settled by then — so
the strategies see the same shapes in a backtest and on live data:

- :meth:`Engine.warm` (live start-up only): history into the market data, nothing traded;
- :meth:`Engine.step`: prices → paper venues, funding settled (payments into the ledger),
  marks, breakers, the funding-flip guard, the strategies that are due, an equity snapshot
  when due;
- :meth:`Engine.mark_tick` (live only, between steps): streamed marks → paper venues and the
  ledger, breakers, a snapshot when due;
- :meth:`Engine.finish`: last states and snapshot, journal flushed.

The engine's clock is the data's clock: it moves to each event's time and never back.

Its wiring lives in :mod:`agent.engine.builder`, the strategies' turn in a step (flip guard,
strategy cycles, state journaling) in :mod:`agent.engine.runner`, and what ``mode = "live"``
adds in :mod:`agent.engine.live`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from decimal import Decimal
from typing import Protocol, TextIO

import structlog

from agent.clock import ReplayClock
from agent.config import AgentConfig
from agent.engine.builder import RESERVE, journal_path, wire
from agent.engine.funding_schedule import FundingScheduleRegistry, to_alert
from agent.engine.live import check_live_positions, collect_live_funding
from agent.engine.margin_watch import MarginWatch
from agent.engine.marketdata import MarketData
from agent.engine.resume import RESUME_KEY, checkpoint
from agent.engine.runner import _StrategySlot, guard_funding_flips, journal_state, run_cycle
from agent.execution.executor import Executor
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from agent.risk import RiskEngine
from strategies.base import Strategy
from strategies.flip_monitor import FlipMonitorState, FundingFlipMonitor
from venues.base import Venue
from venues.model import (
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
)
from venues.paper import PaperVenue

__all__ = [
    "BTC_PERP",
    "RESERVE",
    "Engine",
    "MarketStep",
    "MarksUpdate",
    "journal_path",
]

log = structlog.get_logger("zerobeta.engine")

BTC_PERP = InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT")


class MarketStep(Protocol):
    """One hour of market data (``ReplayStep`` and ``LiveStep`` both are one)."""

    @property
    def ts_ms(self) -> int:
        """Close time of the hour's bars, epoch ms UTC."""
        ...

    @property
    def closes(self) -> Mapping[InstrumentId, float]:
        """Bar closes ending at ``ts_ms``, quote units."""
        ...

    @property
    def funding(self) -> Sequence[FundingRate]:
        """Funding settled by ``ts_ms``, oldest first."""
        ...


class MarksUpdate(Protocol):
    """Intra-hour prices (``LiveStep``'s companion ``MarkTick``)."""

    @property
    def ts_ms(self) -> int:
        """Observation time, epoch ms UTC."""
        ...

    @property
    def prices(self) -> Mapping[InstrumentId, float]:
        """Mark prices, quote units."""
        ...


class Engine:
    """Every component of a run, in lockstep with the market events a driver feeds it.

    Build it with :meth:`create`; the caller's ``AsyncExitStack`` closes the paper venues and
    the journal.
    """

    def __init__(self) -> None:
        self.cfg: AgentConfig
        self.clock: ReplayClock
        self.instruments: dict[InstrumentId, Instrument]
        self.venues: dict[str, Venue]
        self.paper: dict[str, PaperVenue]
        self.funding_since_ms: dict[str, int] = {}
        self.reported_mismatches: set[tuple[str, str]] = set()
        self.funding_seen: set[tuple[str, int]] = set()
        self.portfolio: Portfolio
        self.journal: Journal
        self.market: MarketData
        self.risk: RiskEngine
        self.margin: MarginWatch
        self.executor: Executor
        self.slots: list[_StrategySlot]
        self.price_source: dict[InstrumentId, InstrumentId]
        self.progress: TextIO | None
        self.monitor: FundingFlipMonitor | None
        self.funding_schedule: FundingScheduleRegistry
        self.monitor_state: FlipMonitorState
        self.blocked: Mapping[str, frozenset[str]]
        self.funding_payments = 0
        self.closes_carried = 0
        self._carried_last_step: frozenset[InstrumentId] = frozenset()
        self.last_snapshot_ms = 0
        self.pending_flatten = False
        self.resumable = False
        self.resumed_from_ms: int | None = None

    @classmethod
    async def create(
        cls,
        cfg: AgentConfig,
        strategies: Sequence[Strategy],
        stack: AsyncExitStack,
        *,
        instruments: Mapping[InstrumentId, Instrument],
        first_ms: int,
        price_source: Mapping[InstrumentId, InstrumentId] | None = None,
        progress: TextIO | None = None,
        live_venues: Mapping[str, Venue] | None = None,
        live_cash_usd: Mapping[str, Decimal] | None = None,
    ) -> Engine:
        """Wire every component for ``instruments``, starting the clock at ``first_ms``.

        ``price_source`` maps an instrument to the one whose prices stand in for it (replay:
        Bybit/Hyperliquid perps follow the Binance perp); live runs price each on its own.

        ``live_venues`` (``mode = "live"``): the opened, authenticated venue clients orders go
        to instead of paper venues; funding then comes from each venue's payment history, and
        a new run's cash is ``live_cash_usd`` (quote-asset balances per venue, USD).

        Raises
        ------
        agent.errors.JournalError
            If the journal cannot be opened.
        """
        self = cls()
        await wire(
            self,
            cfg,
            strategies,
            stack,
            instruments=instruments,
            first_ms=first_ms,
            price_source=price_source,
            progress=progress,
            live_venues=live_venues,
            live_cash_usd=live_cash_usd,
        )
        return self

    def _advance(self, ts_ms: int) -> None:
        """Move the clock to ``ts_ms`` (never back: a live bar closes before the marks that
        arrived while it was being fetched)."""
        self.clock.advance_to(max(ts_ms, self.clock.now_ms()))

    def warm(self, step: MarketStep) -> None:
        """Feed one history step to the market data (live start-up, or the steps a resumed
        run already processed): closes and funding are recorded, paper venues priced, nothing
        settled, booked or traded."""
        self._advance(step.ts_ms)
        self._apply_prices(step)
        self.observe_funding(step.funding)

    def observe_funding(self, rates: Iterable[FundingRate]) -> None:
        """Record settled funding (live start-up history): the interval schedule and the
        market data learn the rates; nothing is settled or booked."""
        for rate in rates:
            self.funding_schedule.observe(rate)
            self.market.on_funding(rate)

    async def catch_up(self, step: MarketStep) -> None:
        """A step missed while a resumed live run was down: prices applied, the funding its
        positions earned settled and booked, marks, breakers and snapshots as usual; the
        strategies do not trade on the past."""
        self._advance(step.ts_ms)
        self._apply_prices(step)
        self._settle_funding(step)
        if not self.paper:
            await collect_live_funding(self, step.ts_ms)
        self._mark()
        self._check_breakers(step.ts_ms)
        if step.ts_ms - self.last_snapshot_ms >= self.cfg.journal.snapshot_every_s * 1000:
            self._snapshot(step.ts_ms)
        if self.resumable:
            self._checkpoint(step.ts_ms)

    def mark_tick(self, update: MarksUpdate) -> None:
        """Streamed marks between hourly steps: price the paper venues, mark the ledger, check
        the breakers, snapshot when due. History and strategies are untouched."""
        self._advance(update.ts_ms)
        now_ms = self.clock.now_ms()
        for iid, price in update.prices.items():
            if iid not in self.instruments:
                continue
            self.market.on_price(iid, price, now_ms)
            venue = self.paper.get(iid.venue)
            if venue is not None:
                venue.update_price(iid, price)
        self._mark()
        self._check_breakers(now_ms)
        if now_ms - self.last_snapshot_ms >= self.cfg.journal.snapshot_every_s * 1000:
            self._snapshot(now_ms)
        if self.resumable:
            self.journal.flush()

    def counters(self) -> dict[str, int]:
        return {
            "orders_sent": self.executor.orders_sent,
            "orders_rejected": self.executor.orders_rejected,
            "risk_rejections": self.executor.risk_rejections,
            "funding_payments": self.funding_payments,
            "funding_interval_changes": len(self.funding_schedule.changes),
            "closes_carried": self.closes_carried,
            "unresolved_orders": len(self.executor.unresolved),
        }

    async def step(self, step: MarketStep) -> None:
        """Run one hourly step (see the module docstring)."""
        self._advance(step.ts_ms)
        self._apply_prices(step)
        self._settle_funding(step)
        if not self.paper:
            await collect_live_funding(self, step.ts_ms)
        self._mark()
        self._check_breakers(step.ts_ms)
        if self.executor.unresolved:
            await self.executor.follow_up(step.ts_ms, self.market.prices)
        await guard_funding_flips(self, step.ts_ms)
        for slot in self.slots:
            if step.ts_ms >= slot.next_decide_ms:
                await run_cycle(self, slot, step.ts_ms)
        if not self.paper:
            await check_live_positions(self, step.ts_ms)
        await self._check_margin(step.ts_ms)
        if step.ts_ms - self.last_snapshot_ms >= self.cfg.journal.snapshot_every_s * 1000:
            self._snapshot(step.ts_ms)
        if self.resumable:
            self._checkpoint(step.ts_ms)

    def _checkpoint(self, ts_ms: int) -> None:
        """Journal changed strategy states and the resume checkpoint, and commit the step."""
        for slot in self.slots:
            journal_state(self, slot, ts_ms)
        self.journal.record_meta({RESUME_KEY: json.dumps(checkpoint(self, ts_ms), sort_keys=True)})
        self.journal.flush()

    def _apply_prices(self, step: MarketStep) -> None:
        for iid, close in step.closes.items():
            self.market.on_close(iid, close, step.ts_ms)
            venue = self.paper.get(iid.venue)
            if venue is not None:
                venue.update_price(iid, close)
        for iid, source in self.price_source.items():
            price = step.closes.get(source)
            if price is not None:
                self.market.on_close(iid, price, step.ts_ms)
                venue = self.paper.get(iid.venue)
                if venue is not None:
                    venue.update_price(iid, price)
        # An hour without a close keeps every history hour-aligned by repeating the previous
        # close (logged when an instrument starts missing, not every hour it stays missing).
        carried = self.market.carry_closes(step.ts_ms)
        self.closes_carried += len(carried)
        started = [str(i) for i in carried if i not in self._carried_last_step]
        if started:
            log.warning("close_carried_forward", ts_ms=step.ts_ms, instruments=started)
        self._carried_last_step = frozenset(carried)

    def _settle_funding(self, step: MarketStep) -> None:
        for rate in step.funding:
            change = self.funding_schedule.observe(rate)
            if change is not None:
                alert = to_alert(change)
                log.warning(alert.kind, message=alert.message, **alert.fields)
                self.journal.record_alert(change.ts_ms, "supervisor", alert)
            self.market.on_funding(rate)
            venue = self.paper.get(rate.instrument_id.venue)
            if venue is None:
                continue
            payment = venue.settle_funding(rate)
            if payment is not None:
                self.book_funding(step.ts_ms, payment)

    def book_funding(self, ts_ms: int, payment: FundingPayment) -> None:
        """Book one funding payment into the ledger and the journal (counted once)."""
        self.funding_payments += 1
        self.funding_seen.add((str(payment.instrument_id), payment.ts_funding_ms))
        allocations = self.portfolio.apply_funding(payment)
        self.journal.record_funding(ts_ms, payment, allocations)

    def _mark(self) -> None:
        held = self.portfolio.positions()
        prices = self.market.prices
        self.portfolio.mark({i: Decimal(repr(prices[i])) for i in held if i in prices})

    def _check_breakers(self, ts_ms: int) -> None:
        for event in self.risk.update_equity(ts_ms, float(self.portfolio.equity_usd())):
            log.error(
                "circuit_breaker_tripped", rule=event.rule, limit=event.limit, value=event.value
            )
            self.journal.record_risk_event(
                ts_ms, event.rule, event.limit, event.value, "", "", "breaker"
            )
            if self.cfg.risk.flatten_on_breaker:
                self.pending_flatten = True

    async def _check_margin(self, ts_ms: int) -> None:
        checked = await self.margin.check(self.venues, self.paper, self.portfolio.venue_equity_usd)
        for alert in checked:
            self.journal.record_alert(ts_ms, "supervisor", alert)
            log.warning(alert.kind, message=alert.message, **alert.fields)

    def _snapshot(self, ts_ms: int) -> None:
        self.last_snapshot_ms = ts_ms
        self.portfolio.check_identity()
        btc = self.market.price(BTC_PERP)
        self.journal.record_equity_snapshot(ts_ms, self.portfolio, btc)

    def draw_progress(self, steps: int, total: int) -> None:
        if self.progress is None or total <= 0:
            return
        frac = steps / total
        bar = "#" * int(frac * 30)
        equity = float(self.portfolio.equity_usd())
        self.progress.write(f"\rreplay [{bar:<30}] {frac:6.1%}  equity {equity:,.2f} USD")
        self.progress.flush()

    def finish(self, ts_ms: int) -> None:
        for slot in self.slots:
            journal_state(self, slot, ts_ms)
        self._snapshot(ts_ms)
        marks = {str(i): str(p) for i, p in sorted(self.portfolio.marks().items())}
        self.journal.record_meta(
            {"window_last_ms": str(ts_ms), "final_marks_json": json.dumps(marks, sort_keys=True)}
        )
        self.journal.flush()
