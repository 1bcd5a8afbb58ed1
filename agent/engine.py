"""The engine every run shares: paper venues, ledger, journal, market data, risk, execution and
the strategies, advanced one market event at a time.

A driver feeds it: the replay driver (recorded history, as fast as the CPU allows) or the live
driver (``agent.live_feed``: the venues' public data on the wall clock). Both hand it the same
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
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TextIO

import structlog

from agent.clock import ReplayClock
from agent.config import AgentConfig, config_hash
from agent.engine_live import check_live_positions, collect_live_funding
from agent.execution import Executor
from agent.funding_schedule import FundingScheduleRegistry, to_alert
from agent.journal import Journal
from agent.margin_watch import MarginWatch
from agent.marketdata import MarketData
from agent.portfolio import Portfolio
from agent.resume import RESUME_KEY, apply_checkpoint, checkpoint, load_resume
from agent.risk import RiskEngine
from strategies.base import Decision, MarketSnapshot, PairIntent, Strategy, TargetPosition
from strategies.flip_monitor import FundingFlipMonitor
from venues.base import Venue
from venues.model import (
    FundingPayment,
    FundingRate,
    Instrument,
    InstrumentId,
    InstrumentKind,
    VenueFees,
)
from venues.paper import PaperPairVenue, PaperVenue, PaperVenueConfig

log = structlog.get_logger("zerobeta.engine")

RESERVE = "reserve"
_BPS = Decimal("0.0001")
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


@dataclass
class _StrategySlot:
    strategy: Strategy
    state: Mapping[str, Any]
    next_decide_ms: int = 0
    next_refit_ms: int = 0
    cycles: int = 0
    intents: int = 0
    instruments: tuple[InstrumentId, ...] = ()
    journaled_state: Mapping[str, Any] | None = None
    state_journaled_ms: int = -(2**62)


def _flip_monitor(config: AgentConfig) -> FundingFlipMonitor | None:
    section = config.strategies.funding_flip_monitor
    if not section.enabled:
        return None
    cost_bps = {n: v.perp_taker_fee_bps + v.slippage_bps for n, v in config.venues.items()}
    return FundingFlipMonitor(section, cost_bps)


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
        self.monitor_state: Mapping[str, Any]
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
        self.cfg = cfg
        self.progress = progress
        self.clock = ReplayClock(first_ms)
        self.instruments = dict(instruments)
        self.price_source = dict(price_source or {})
        self.funding_schedule = FundingScheduleRegistry()
        for inst in self.instruments.values():
            if inst.is_perp:
                self.funding_schedule.register(inst, first_ms)
        if live_venues is None:
            self.paper = _paper_venues(cfg, self.instruments, self.clock)
            for venue in self.paper.values():
                await venue.open()
                stack.push_async_callback(venue.close)
            self.venues = dict(self.paper)
        else:
            self.paper = {}
            self.venues = dict(live_venues)
        self.journal = Journal.open(_prepare_journal_path(cfg))
        stack.callback(self.journal.close)
        self.resumable = cfg.market_data.source == "live" or not cfg.journal.overwrite
        resumed = load_resume(self.journal, config_hash(cfg)) if self.resumable else None
        self.resumed_from_ms = None if resumed is None else resumed.last_step_ms
        if resumed is not None:
            self.portfolio = resumed.portfolio
        elif live_cash_usd is not None:
            self.portfolio = Portfolio({**live_cash_usd, RESERVE: Decimal(0)})
        else:
            self.portfolio = Portfolio(_initial_cash(cfg, self.paper))
        self.market = MarketData(self.instruments, cfg.market_data.stale_after_s * 1000)
        leverage = {n: float(v.perp_leverage) for n, v in cfg.venues.items()}
        self.risk = RiskEngine(cfg.risk, leverage, float(self.portfolio.initial_equity_usd))
        self.margin = MarginWatch(cfg.risk.margin_alert_frac, cfg.capital.quote_assets)
        self.executor = Executor(
            self.venues, self.instruments, self.portfolio, self.journal, self.risk, cfg.execution
        )
        self.slots = [
            _StrategySlot(s, s.initial_state(), instruments=tuple(s.instruments()))
            for s in strategies
        ]
        self.monitor = _flip_monitor(cfg)
        self.monitor_state = self.monitor.initial_state() if self.monitor else {}
        self.blocked = {}
        if resumed is None:
            self._write_meta(first_ms)
        else:
            apply_checkpoint(self, resumed)
        return self

    def _write_meta(self, first_ms: int) -> None:
        meta = {
            "mode": self.cfg.mode,
            "source": self.cfg.market_data.source,
            "config_hash": config_hash(self.cfg),
            "initial_equity_usd": str(self.portfolio.initial_equity_usd),
            "strategies": ",".join(s.strategy.name for s in self.slots),
            "window_first_ms": str(first_ms),
            "initial_cash_json": json.dumps(
                {k: str(v) for k, v in sorted(self.portfolio.initial_cash_usd.items())}
            ),
        }
        self.journal.record_meta(meta)

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
        await self._guard(step.ts_ms)
        for slot in self.slots:
            if step.ts_ms >= slot.next_decide_ms:
                await self._cycle(slot, step.ts_ms)
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
            self._journal_state(slot, ts_ms)
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
        for _, _, alert in checked:
            self.journal.record_alert(ts_ms, "supervisor", alert)
            log.warning(alert.kind, message=alert.message, **alert.fields)

    async def _guard(self, ts_ms: int) -> None:
        """Funding-flip monitor: close guarded positions whose funding turned against them,
        on behalf of their owner strategies (their P&L stays theirs)."""
        if self.monitor is None:
            return
        guarded = self.monitor.config.guarded_strategies
        positions = {
            name: {i: float(q) for i, q in self.portfolio.positions(name).items() if q}
            for name in guarded
        }
        held = {i for p in positions.values() for i in p}
        snapshot = self.market.snapshot(ts_ms, held, 1)
        decision = self.monitor.review(positions, snapshot, self.monitor_state, ts_ms)
        if decision.state != self.monitor_state:
            self.journal.record_strategy_state(ts_ms, self.monitor.name, decision.state)
        self.monitor_state = decision.state
        self.blocked = decision.blocked
        for alert in decision.alerts:
            self.journal.record_alert(ts_ms, self.monitor.name, alert)
            log.warning(
                alert.kind, strategy=self.monitor.name, message=alert.message, **alert.fields
            )
        for owner, intent in decision.closes:
            await self.executor.execute(owner, intent, snapshot.prices, ts_ms)

    async def _cycle(self, slot: _StrategySlot, ts_ms: int) -> None:
        strategy = slot.strategy
        slot.next_decide_ms = ts_ms + strategy.cadence_s * 1000
        snapshot = self.market.snapshot(ts_ms, slot.instruments, strategy.history_bars)
        if strategy.refit_every_s is not None and ts_ms >= slot.next_refit_ms:
            slot.state = await asyncio.to_thread(strategy.refit, snapshot, slot.state, ts_ms)
            if _history_complete(snapshot, strategy.history_bars):
                # Until every instrument has its full history the fit is provisional: refit
                # next cycle instead of waiting a whole refit period.
                slot.next_refit_ms = ts_ms + strategy.refit_every_s * 1000
        view = self.portfolio.to_view(
            strategy.name, 1.0, self.blocked.get(strategy.name, frozenset())
        )
        decision = strategy.decide(snapshot, view, slot.state, ts_ms)
        slot.state = decision.state
        slot.cycles += 1
        if self._flatten_requested():
            decision = _flatten_decision(strategy.name, view.positions, ts_ms, decision)
        outcomes = [
            await self.executor.execute(strategy.name, intent, snapshot.prices, ts_ms)
            for intent in decision.intents
        ]
        traded = sum(1 for o in outcomes if o.orders_sent)
        slot.intents += traded
        self._journal_decision(slot, decision, ts_ms, traded > 0)
        log.info(
            "cycle_completed",
            strategy=strategy.name,
            ts_ms=ts_ms,
            intents=len(decision.intents),
            intents_traded=traded,
            **decision.diagnostics,
        )

    def _flatten_requested(self) -> bool:
        return self.pending_flatten and self.risk.halted

    def _journal_decision(
        self, slot: _StrategySlot, decision: Decision, ts_ms: int, traded: bool
    ) -> None:
        for alert in decision.alerts:
            self.journal.record_alert(ts_ms, slot.strategy.name, alert)
            log.warning(
                alert.kind, strategy=slot.strategy.name, message=alert.message, **alert.fields
            )
        due = traded or ts_ms - slot.state_journaled_ms >= self.cfg.journal.state_every_s * 1000
        if due:
            self._journal_state(slot, ts_ms)

    def _journal_state(self, slot: _StrategySlot, ts_ms: int) -> None:
        """Journal the slot's state if it changed since it was last journaled."""
        if slot.state != slot.journaled_state:
            slot.journaled_state = slot.state
            slot.state_journaled_ms = ts_ms
            self.journal.record_strategy_state(ts_ms, slot.strategy.name, slot.state)

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
            self._journal_state(slot, ts_ms)
        self._snapshot(ts_ms)
        marks = {str(i): str(p) for i, p in sorted(self.portfolio.marks().items())}
        self.journal.record_meta(
            {"window_last_ms": str(ts_ms), "final_marks_json": json.dumps(marks, sort_keys=True)}
        )
        self.journal.flush()


def _history_complete(snapshot: MarketSnapshot, history_bars: int) -> bool:
    return all(len(closes) >= history_bars for closes in snapshot.closes.values())


def _flatten_decision(
    strategy: str, positions: Mapping[InstrumentId, float], ts_ms: int, decision: Decision
) -> Decision:
    legs = tuple(TargetPosition(i, 0.0) for i, q in sorted(positions.items()) if q)
    if not legs:
        return decision
    intent = PairIntent(f"flatten-{ts_ms}", legs, "breaker_flatten", opening=False)
    return Decision((intent,), decision.state, decision.alerts, decision.diagnostics)


def _paper_venues(
    cfg: AgentConfig, instruments: Mapping[InstrumentId, Instrument], clock: ReplayClock
) -> dict[str, PaperVenue]:
    venues: dict[str, PaperVenue] = {}
    equity = Decimal(repr(cfg.capital.initial_equity_usd))
    for name, vcfg in sorted(cfg.venues.items()):
        if not vcfg.enabled:
            continue
        pcfg = PaperVenueConfig(
            name=name,
            initial_collateral_usd=equity * Decimal(repr(vcfg.collateral_frac)),
            perp_fees=VenueFees(
                Decimal(repr(vcfg.perp_maker_fee_bps)) * _BPS,
                Decimal(repr(vcfg.perp_taker_fee_bps)) * _BPS,
            ),
            spot_fees=VenueFees(
                Decimal(repr(vcfg.spot_maker_fee_bps)) * _BPS,
                Decimal(repr(vcfg.spot_taker_fee_bps)) * _BPS,
            ),
            slippage_bps=Decimal(repr(vcfg.slippage_bps)),
            perp_leverage=Decimal(repr(vcfg.perp_leverage)),
        )
        own = {i: inst for i, inst in instruments.items() if i.venue == name}
        # Purple Flea has native atomic pair orders: its paper twin fills pairs atomically.
        kind = PaperPairVenue if name == "purpleflea" else PaperVenue
        venues[name] = kind(pcfg, own, clock.now_ms)
    return venues


def _initial_cash(cfg: AgentConfig, venues: Mapping[str, PaperVenue]) -> dict[str, Decimal]:
    equity = Decimal(repr(cfg.capital.initial_equity_usd))
    cash = {n: equity * Decimal(repr(cfg.venues[n].collateral_frac)) for n in venues}
    cash[RESERVE] = equity - sum(cash.values(), Decimal(0))
    return cash


def journal_path(cfg: AgentConfig) -> Path:
    """The journal file of ``cfg``."""
    return Path(cfg.journal.path)


def _prepare_journal_path(cfg: AgentConfig) -> Path:
    """Create the journal's directory; a replay with ``journal.overwrite`` starts from an empty
    file, anything else appends to the existing journal."""
    path = journal_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    if cfg.journal.overwrite and cfg.market_data.source == "replay":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path
