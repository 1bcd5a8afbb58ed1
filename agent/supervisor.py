"""The supervisor: wires config, journal, venues, market data, strategies, risk and execution,
and runs them in one ``asyncio.TaskGroup`` until the data ends or a stop signal arrives.

Replay mode (``[market_data] source = "replay"``) drives everything from the bundled real
history with a :class:`~agent.clock.ReplayClock`: each hourly step updates prices, settles
funding on the paper venues, marks the ledger, runs the strategies that are due, executes
their intents and journals an equity snapshot. Nothing sleeps, so a 17-month replay takes
seconds and two runs write identical journals.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import structlog

from agent.clock import ReplayClock
from agent.config import AgentConfig, config_hash, usable_venues
from agent.execution import Executor
from agent.funding_schedule import FundingScheduleRegistry, to_alert
from agent.journal import Journal
from agent.marketdata import MarketData
from agent.portfolio import Portfolio
from agent.risk import RiskEngine
from strategies.base import Decision, MarketSnapshot, PairIntent, Strategy, TargetPosition
from strategies.beta_hedger import BetaHedgerStrategy
from strategies.cross_venue_arb import CrossVenueArbStrategy, VenueCosts
from strategies.factor_neutral import FactorNeutralStrategy
from strategies.flip_monitor import FundingFlipMonitor
from strategies.funding_harvester.signals import LegCosts
from strategies.funding_harvester.strategy import FundingHarvesterStrategy
from strategies.stat_arb.strategy import StatArbStrategy
from venues.model import (
    Instrument,
    InstrumentId,
    InstrumentKind,
    VenueFees,
)
from venues.paper import PaperVenue, PaperVenueConfig
from venues.replay.source import ReplayDataset, ReplayStep

log = structlog.get_logger("zerobeta.supervisor")

RESERVE = "reserve"
_BPS = Decimal("0.0001")
_YIELD_EVERY_STEPS = 64


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


@dataclass
class RunResult:
    """Outcome of a run: journal path, first/last step times (epoch ms), steps, wall time."""

    journal_path: Path
    start_ms: int
    end_ms: int
    steps: int
    wall_time_s: float
    stopped_early: bool
    counters: dict[str, int] = field(default_factory=dict)


def build_strategies(config: AgentConfig) -> list[Strategy]:
    """Instantiate every enabled strategy with its own config section."""
    strategies: list[Strategy] = []
    fh = config.strategies.funding_harvester
    if fh.enabled:
        venue = config.venues[fh.venue]
        costs = LegCosts(
            spot_taker_fee_bps=venue.spot_taker_fee_bps,
            perp_taker_fee_bps=venue.perp_taker_fee_bps,
            slippage_bps=venue.slippage_bps,
        )
        strategies.append(FundingHarvesterStrategy(fh, costs))
    if config.strategies.stat_arb.enabled:
        strategies.append(StatArbStrategy(config.strategies.stat_arb))
    if config.strategies.factor_neutral.enabled:
        strategies.append(FactorNeutralStrategy(config.strategies.factor_neutral))
    xva = config.strategies.cross_venue_arb
    if xva.enabled:
        xva = xva.model_copy(update={"venues": usable_venues(xva.venues, config.venues)})
        xva_costs = {
            v: VenueCosts(
                taker_fee_bps=config.venues[v].perp_taker_fee_bps,
                slippage_bps=config.venues[v].slippage_bps,
            )
            for v in xva.venues
        }
        strategies.append(CrossVenueArbStrategy(xva, xva_costs))
    if config.strategies.beta_hedger.enabled:  # last: it hedges what the others hold
        strategies.append(BetaHedgerStrategy(config.strategies.beta_hedger))
    return strategies


def _flip_monitor(config: AgentConfig) -> FundingFlipMonitor | None:
    section = config.strategies.funding_flip_monitor
    if not section.enabled:
        return None
    cost_bps = {n: v.perp_taker_fee_bps + v.slippage_bps for n, v in config.venues.items()}
    return FundingFlipMonitor(section, cost_bps)


def _symbols_for(strategies: Sequence[Strategy], kind: InstrumentKind) -> list[str]:
    return sorted({i.symbol for s in strategies for i in s.instruments() if i.kind is kind})


class Supervisor:
    """Runs one agent from a validated :class:`AgentConfig`.

    Parameters
    ----------
    config : AgentConfig
    progress_stream : TextIO | None
        Where a progress line is drawn (a TTY); None for no progress.
    """

    def __init__(self, config: AgentConfig, progress_stream: TextIO | None = None) -> None:
        self._cfg = config
        self._progress = progress_stream
        self._stop = asyncio.Event()
        self._strategies = build_strategies(config)

    def request_stop(self) -> None:
        """Ask the run to stop after the current step (signal-safe)."""
        self._stop.set()

    async def run(self) -> RunResult:
        """Run until the data ends or a stop is requested; returns the run's outcome.

        Raises
        ------
        agent.errors.AgentError
            On any unrecoverable error (after the journal has been flushed and closed).
        """
        if self._cfg.market_data.source != "replay":
            raise NotImplementedError("market_data.source = 'live' arrives with the venue adapters")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.request_stop)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-main thread
                log.debug("signal_handler_unavailable", signal=sig.name)
        try:
            async with AsyncExitStack() as stack:
                engine = await _ReplayEngine.create(
                    self._cfg, self._strategies, stack, self._progress
                )
                try:
                    async with asyncio.TaskGroup() as group:
                        task = group.create_task(engine.run(self._stop), name="replay.driver")
                except ExceptionGroup as group_error:
                    # One task failed: surface its own error (AgentError, DataFileError...)
                    # so the CLI can map it to an exit code.
                    raise group_error.exceptions[0] from group_error
                return task.result()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


class _ReplayEngine:
    """The replay driver: one hourly step at a time, every component in lockstep."""

    def __init__(self) -> None:
        self.cfg: AgentConfig
        self.dataset: ReplayDataset
        self.clock: ReplayClock
        self.instruments: dict[InstrumentId, Instrument]
        self.venues: dict[str, PaperVenue]
        self.portfolio: Portfolio
        self.journal: Journal
        self.market: MarketData
        self.risk: RiskEngine
        self.executor: Executor
        self.slots: list[_StrategySlot]
        self.price_source: dict[InstrumentId, InstrumentId]
        self.progress: TextIO | None
        self.monitor: FundingFlipMonitor | None
        self.funding_schedule: FundingScheduleRegistry
        self.monitor_state: Mapping[str, Any]
        self.blocked: Mapping[str, frozenset[str]]
        self.funding_payments = 0
        self.last_snapshot_ms = 0
        self.pending_flatten = False

    @classmethod
    async def create(
        cls,
        cfg: AgentConfig,
        strategies: Sequence[Strategy],
        stack: AsyncExitStack,
        progress: TextIO | None,
    ) -> _ReplayEngine:
        self = cls()
        self.cfg = cfg
        self.progress = progress
        self.dataset = _load_dataset(cfg, strategies)
        first_ms, _ = self.dataset.window_ms()
        self.clock = ReplayClock(first_ms)
        self.instruments = dict(self.dataset.instruments())
        self.price_source = _price_sources(self.instruments)
        self.funding_schedule = FundingScheduleRegistry()
        for inst in self.instruments.values():
            if inst.is_perp:
                self.funding_schedule.register(inst, first_ms)
        self.venues = _paper_venues(cfg, self.instruments, self.clock)
        for venue in self.venues.values():
            await venue.open()
            stack.push_async_callback(venue.close)
        self.portfolio = Portfolio(_initial_cash(cfg, self.venues))
        self.journal = Journal.open(_prepare_journal_path(cfg))
        stack.callback(self.journal.close)
        self.market = MarketData(self.instruments, cfg.market_data.stale_after_s * 1000)
        leverage = {n: float(v.perp_leverage) for n, v in cfg.venues.items()}
        self.risk = RiskEngine(cfg.risk, leverage, float(self.portfolio.initial_equity_usd))
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
        self._write_meta(first_ms)
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

    async def run(self, stop: asyncio.Event) -> RunResult:
        """Replay every step; returns when the data ends or ``stop`` is set."""
        wall_start = time.perf_counter()
        steps = 0
        first = last = self.clock.now_ms()
        total = self.dataset.step_count()
        log.info("replay_started", steps=total, strategies=[s.strategy.name for s in self.slots])
        for step in self.dataset.steps():
            if stop.is_set():
                break
            await self._step(step)
            last = step.ts_ms
            steps += 1
            if steps % _YIELD_EVERY_STEPS == 0:
                self._draw_progress(steps, total)
                await asyncio.sleep(0)  # let signal handlers run
        self._finish(last)
        wall = time.perf_counter() - wall_start
        if self.progress is not None:
            self.progress.write("\n")
        log.info(
            "replay_finished", steps=steps, wall_time_s=round(wall, 3), stopped_early=stop.is_set()
        )
        return RunResult(
            journal_path=_journal_path(self.cfg),
            start_ms=first,
            end_ms=last,
            steps=steps,
            wall_time_s=wall,
            stopped_early=stop.is_set(),
            counters=self._counters(),
        )

    def _counters(self) -> dict[str, int]:
        return {
            "orders_sent": self.executor.orders_sent,
            "orders_rejected": self.executor.orders_rejected,
            "risk_rejections": self.executor.risk_rejections,
            "funding_payments": self.funding_payments,
            "funding_interval_changes": len(self.funding_schedule.changes),
        }

    async def _step(self, step: ReplayStep) -> None:
        self.clock.advance_to(step.ts_ms)
        self._apply_prices(step)
        self._settle_funding(step)
        self._mark()
        self._check_breakers(step.ts_ms)
        await self._guard(step.ts_ms)
        for slot in self.slots:
            if step.ts_ms >= slot.next_decide_ms:
                await self._cycle(slot, step.ts_ms)
        if step.ts_ms - self.last_snapshot_ms >= self.cfg.journal.snapshot_every_s * 1000:
            self._snapshot(step.ts_ms)

    def _apply_prices(self, step: ReplayStep) -> None:
        for iid, close in step.closes.items():
            self.market.on_close(iid, close, step.ts_ms)
            venue = self.venues.get(iid.venue)
            if venue is not None:
                venue.update_price(iid, close)
        for iid, source in self.price_source.items():
            price = step.closes.get(source)
            if price is not None:
                self.market.on_close(iid, price, step.ts_ms)
                venue = self.venues.get(iid.venue)
                if venue is not None:
                    venue.update_price(iid, price)

    def _settle_funding(self, step: ReplayStep) -> None:
        for rate in step.funding:
            change = self.funding_schedule.observe(rate)
            if change is not None:
                alert = to_alert(change)
                log.warning(alert.kind, message=alert.message, **alert.fields)
                self.journal.record_alert(change.ts_ms, "supervisor", alert)
            self.market.on_funding(rate)
            venue = self.venues.get(rate.instrument_id.venue)
            if venue is None:
                continue
            payment = venue.settle_funding(rate)
            if payment is None:
                continue
            self.funding_payments += 1
            allocations = self.portfolio.apply_funding(payment)
            self.journal.record_funding(step.ts_ms, payment, allocations)

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
        btc = self.market.price(InstrumentId("binance", InstrumentKind.PERP, "BTCUSDT"))
        self.journal.record_equity_snapshot(ts_ms, self.portfolio, btc)

    def _draw_progress(self, steps: int, total: int) -> None:
        if self.progress is None or total <= 0:
            return
        frac = steps / total
        bar = "#" * int(frac * 30)
        equity = float(self.portfolio.equity_usd())
        self.progress.write(f"\rreplay [{bar:<30}] {frac:6.1%}  equity {equity:,.2f} USD")
        self.progress.flush()

    def _finish(self, ts_ms: int) -> None:
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


def _load_dataset(cfg: AgentConfig, strategies: Sequence[Strategy]) -> ReplayDataset:
    perps = sorted({*_symbols_for(strategies, InstrumentKind.PERP), "BTCUSDT"})
    spots = _symbols_for(strategies, InstrumentKind.SPOT)
    funding_venues = tuple(n for n, v in sorted(cfg.venues.items()) if v.enabled)
    md = cfg.market_data
    return ReplayDataset.load(
        md.data_dir,
        perp_symbols=perps,
        spot_symbols=spots,
        funding_venues=funding_venues,
        start_ms=_to_ms(md.start),
        end_ms=_to_ms(md.end),
    )


def _to_ms(value: datetime | None) -> int | None:
    """Epoch ms of a config datetime (already made timezone-aware UTC by ``agent.config``)."""
    return None if value is None else int(value.timestamp() * 1000)


def _price_sources(
    instruments: Mapping[InstrumentId, Instrument],
) -> dict[InstrumentId, InstrumentId]:
    """Bybit and Hyperliquid perps have no bundled prices: they follow the Binance perp."""
    sources: dict[InstrumentId, InstrumentId] = {}
    for iid, inst in instruments.items():
        if iid.venue == "binance" or iid.kind is not InstrumentKind.PERP:
            continue
        source = InstrumentId("binance", InstrumentKind.PERP, f"{inst.base}USDT")
        if source in instruments:
            sources[iid] = source
    return sources


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
        venues[name] = PaperVenue(pcfg, own, clock.now_ms)
    return venues


def _initial_cash(cfg: AgentConfig, venues: Mapping[str, PaperVenue]) -> dict[str, Decimal]:
    equity = Decimal(repr(cfg.capital.initial_equity_usd))
    cash = {n: equity * Decimal(repr(cfg.venues[n].collateral_frac)) for n in venues}
    cash[RESERVE] = equity - sum(cash.values(), Decimal(0))
    return cash


def _journal_path(cfg: AgentConfig) -> Path:
    return Path(cfg.journal.path)


def _prepare_journal_path(cfg: AgentConfig) -> Path:
    """Create the journal's directory; with ``journal.overwrite`` start from an empty file
    (replays), otherwise append to the existing journal."""
    path = _journal_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    if cfg.journal.overwrite:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def progress_stream() -> TextIO | None:
    """stderr when it is a terminal (progress bar), else None."""
    return sys.stderr if sys.stderr.isatty() else None
