"""The engine every run shares: venues (paper or live), ledger, journal, market data, risk,
execution and the strategies, advanced one market event at a time.

A driver feeds it: the replay driver (recorded history, as fast as the CPU allows) or the live
driver (``agent.live.feed``: the venues' public data on the wall clock). Both hand it the same
hourly steps — the closes of the bars ending at ``ts_ms`` and the funding settled by then — so
the strategies see the same shapes in a backtest and on live data; a replay of sub-hour bars
(``[market_data] bar_interval``) hands it the bars between the hours as
:meth:`Engine.replay_bar`, the replay's counterpart of a live mark tick:

- :meth:`Engine.warm` (live start-up, and the steps a resumed run already processed): history
  into the market data, nothing settled, booked or traded;
- :meth:`Engine.step`: prices → market data and paper venues, funding settled and booked (the
  :class:`~agent.engine.funding.FundingDesk`: paper settlements, live payment history), with
  ``[option_chain]`` the model option market's expiries, chains and option prices
  (:class:`~agent.engine.options.OptionMarket`) — on live data with a venue that lists
  options, that venue's own chains instead (:class:`~agent.engine.live_options.LiveOptionChains`)
  —, marks,
  breakers, the operator's kill switch (:class:`~agent.engine.kill_switch.KillSwitch`: a new
  ``zerobeta halt`` or ``resume`` in the journal), unresolved orders followed up, the
  pairs' naked budgets (:meth:`~agent.execution.executor.Executor.check_exposure`), the
  strategies (the :class:`~agent.engine.runner.StrategyRunner`), the live position check
  (:class:`~agent.live.reconcile.PositionCheck`), the safety guard (venue health and
  liquidation distances: :class:`~agent.engine.safety.SafetyGuard`), the margin watch, an
  equity snapshot when due, the resume checkpoint;
- :meth:`Engine.mark_tick` (live only, between steps): streamed marks → paper venues and the
  ledger, breakers, the kill switch, the pairs' naked budgets, a snapshot when due; then
  :meth:`Engine.after_marks`: a breaker tripped with ``[risk] flatten_on_breaker`` flattens at
  once, a ``zerobeta halt --flatten`` too, and pairs whose legs drifted beyond ``drift_frac``
  are rebalanced;
- :meth:`Engine.replay_bar` (replay, a bar between two hourly steps): the bar's closes as marks
  (:meth:`Engine.mark_tick`), then :meth:`Engine.after_marks` (flattens, the drift check of
  the standing pairs), the safety guard and the margin watch — the engine's per-bar work —
  while the strategies keep deciding on the hourly steps and funding settles on them;
- between steps, live: :meth:`Engine.on_predicted_funding` (the venues' predicted rates →
  market data, the funding-flip monitor acts before the settlement),
  :meth:`Engine.on_account` (account-stream fills and order updates booked as they arrive,
  each trade once) and :meth:`Engine.on_timer` (unresolved orders looked up on their
  follow-up timers);
- :meth:`Engine.review_safety` (live only, after a mark tick): the safety guard (venue health,
  liquidation distances) at the latest marks;
- :meth:`Engine.shutdown` (a stop was requested): ``[execution] on_shutdown``;
- :meth:`Engine.finish`: last states, pairs still unbalanced and snapshot, journal flushed.

The engine's clock is the data's clock: it moves to each event's time and never back. Paper and
live runs differ only in the parts :func:`agent.engine.builder.build_engine` hands the engine
(paper venues or live clients; the desk's and the position check's venue maps), never by a
branch here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import structlog

from agent.clock import ReplayClock
from agent.config import AgentConfig
from agent.engine.funding import SUPERVISOR, FundingDesk
from agent.engine.kill_switch import KillSwitch
from agent.engine.margin_watch import MarginWatch
from agent.engine.marketdata import MarketData
from agent.engine.resume import CHECKPOINT_VERSION, RESUME_KEY
from agent.engine.runner import StrategyRunner
from agent.engine.safety import SafetyGuard
from agent.execution.executor import Executor
from agent.execution.streamed import StreamBooking
from agent.journal.journal import Journal
from agent.live.reconcile import PositionCheck
from agent.live.steps import AccountTick, FundingTick, TimerTick
from agent.notify import DISCARD, AlertSink, Notice, Severity, breaker_notice
from agent.portfolio.ledger import Portfolio
from agent.risk import RiskEngine
from strategies.base import FloatArray
from venues.base import Venue
from venues.model import Bar, FundingRate, Instrument, InstrumentId
from venues.paper import PaperVenue

if TYPE_CHECKING:
    from agent.engine.live_options import LiveOptionChains
    from agent.engine.options import OptionMarket

__all__ = ["BetweenSteps", "Engine", "EngineParts", "MarketStep", "MarksUpdate"]

log = structlog.get_logger("zerobeta.engine")


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

    @property
    def volumes(self) -> Mapping[InstrumentId, float]:
        """Traded volume of the bars ending at ``ts_ms``, base units (instruments whose bars
        carry one; empty when none do)."""
        ...


@runtime_checkable
class BarsStep(Protocol):
    """A step that carries its bars (``ReplayStep``): high, low and volume for the paper
    venues' resting orders."""

    @property
    def bars(self) -> tuple[Bar, ...]:
        """The bars closing at the step's time."""
        ...


class VolumeColumnsStep(Protocol):
    """A step that also gives its volumes as two columns (``ReplayStep``)."""

    def volume_columns(self) -> tuple[tuple[InstrumentId, ...], FloatArray]:
        """The pairs of ``volumes`` in its order: the ids and their volumes (base units,
        float64 ``(n,)``)."""
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


@dataclass(frozen=True, slots=True)
class _Marks:
    """A replay bar's closes as a :class:`MarksUpdate`."""

    ts_ms: int
    prices: Mapping[InstrumentId, float]


@dataclass(slots=True)
class BetweenSteps:
    """What the engine did between hourly steps (run counters): live, and in a replay of
    sub-hour bars the drift rebalances (``drift_rebalances`` also counts those of the hourly
    steps with ``drift_check = "ratio"``); the other counters stay 0 in a replay."""

    predicted_funding: int = 0
    account_fills_booked: int = 0
    account_fills_known: int = 0
    account_fills_unknown: int = 0
    account_updates: int = 0
    timed_lookups: int = 0
    drift_rebalances: int = 0

    def count(self, booking: StreamBooking) -> None:
        """Add one batch of account-stream events."""
        self.account_fills_booked += booking.fills_booked
        self.account_fills_known += booking.fills_known
        self.account_fills_unknown += booking.fills_unknown
        self.account_updates += booking.updates_journaled

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class EngineParts:
    """The parts an :class:`Engine` is made of (assembled by
    :func:`agent.engine.builder.build_engine`).

    Attributes
    ----------
    venues : Mapping[str, Venue]
        Where orders go, by name: the paper venues, or the live clients.
    paper : Mapping[str, PaperVenue]
        The simulated venues (empty in live mode): priced by every close and mark.
    alerts : AlertSink
        Where the engine's alerts (breakers, margin) are handed for a person (the
        supervisor's :class:`~agent.notify.AlertDispatcher`); by default nowhere.
    """

    cfg: AgentConfig
    clock: ReplayClock
    instruments: Mapping[InstrumentId, Instrument]
    venues: Mapping[str, Venue]
    paper: Mapping[str, PaperVenue]
    journal: Journal
    portfolio: Portfolio
    market: MarketData
    risk: RiskEngine
    margin: MarginWatch
    executor: Executor
    funding: FundingDesk
    runner: StrategyRunner
    positions: PositionCheck
    safety: SafetyGuard
    alerts: AlertSink = DISCARD
    options: OptionMarket | None = None
    """The model-priced option market (``[option_chain] enabled``, paper only), else None."""
    live_options: LiveOptionChains | None = None
    """The venues' own option chains (live data, a strategy reading chains on a venue that
    lists options: Deribit), else None."""


class Engine:
    """Every part of a run, in lockstep with the market events a driver feeds it.

    Parameters
    ----------
    parts : EngineParts
        The assembled parts (:func:`agent.engine.builder.build_engine`); the caller's
        ``AsyncExitStack`` closes the paper venues and the journal.
    price_source : Mapping[InstrumentId, InstrumentId]
        Instruments priced by another's closes (replay: Bybit/Hyperliquid perps follow the
        Binance perp); empty live.
    resumable : bool
        Commit a checkpoint with every step (live runs; replays with ``overwrite = false``).
    resumed_from_ms : int | None
        The last step of the run this one resumes, epoch ms UTC; None for a new run.
    """

    def __init__(
        self,
        parts: EngineParts,
        *,
        price_source: Mapping[InstrumentId, InstrumentId],
        resumable: bool,
        resumed_from_ms: int | None,
    ) -> None:
        self.cfg = parts.cfg
        self.clock = parts.clock
        self.instruments = parts.instruments
        self.venues = parts.venues
        self.paper = parts.paper
        self.journal = parts.journal
        self.portfolio = parts.portfolio
        self.market = parts.market
        self.risk = parts.risk
        self.margin = parts.margin
        self.executor = parts.executor
        self.funding = parts.funding
        self.runner = parts.runner
        self.positions = parts.positions
        self.safety = parts.safety
        self.alerts = parts.alerts
        self.options = parts.options
        self.live_options = parts.live_options
        self.kill_switch = KillSwitch(parts.journal, parts.risk, parts.runner, parts.alerts)
        self.price_source = dict(price_source)
        self.resumable = resumable
        self.resumed_from_ms = resumed_from_ms
        self.reference_instrument = self.cfg.market_data.reference_instrument_id
        self.closes_carried = 0
        self.last_snapshot_ms = 0
        self._carried_last_step: frozenset[InstrumentId] = frozenset()
        self._snapshot_every_ms = self.cfg.journal.snapshot_every_s * 1000
        self._last_step_ms: int | None = None  # of the last checkpoint written
        self._breaker_flatten_pending = False
        self._ratio_drift = self.cfg.execution.drift_check == "ratio"
        self.between_steps = BetweenSteps()
        self._paper_of = PaperOf(self.paper)
        self._close_columns = CloseColumns(self.price_source)
        self._tracked_ids: tuple[InstrumentId, ...] | None = None  # (_all_tracked)

    # ---- events ------------------------------------------------------------------------------

    def warm(self, step: MarketStep) -> None:
        """Feed one history step to the market data (live start-up, or the steps a resumed
        run already processed): closes and funding are recorded, paper venues priced, nothing
        settled, booked or traded."""
        self._advance(step.ts_ms)
        self._apply_prices(step)
        self.funding.observe(step.funding)

    def observe_funding(self, rates: Iterable[FundingRate]) -> None:
        """Record settled funding (live start-up history): the interval schedule and the
        market data learn the rates; nothing is settled or booked."""
        self.funding.observe(rates)

    async def reconcile_at_start(self, now_ms: int) -> None:
        """``mode = "live"`` start: book what orders a previous run could not resolve filled
        (their reverse goes out at the first step with prices), then compare every position with
        the venues (raises ``ReconciliationError`` on a difference) and start reading the
        venues' funding payment history.

        A resumed run commits the late fills it booked together with a checkpoint listing the
        reverses they leave owed (one transaction): killed before its first step, the next
        start would otherwise find those orders final in the journal — no longer unanswered —
        and nothing would send their reverses (a chaos run left a pair one-legged for an hour
        so)."""
        with self.journal.atomic():
            await self.executor.follow_up(now_ms)
            self._commit_between_steps()
        await self.positions.reconcile_at_start(now_ms)
        self.funding.start_collecting(now_ms)

    async def catch_up(self, step: MarketStep) -> None:
        """A step missed while a resumed live run was down: prices applied, the funding its
        positions earned settled and booked, marks, breakers and snapshots as usual; the
        strategies do not trade on the past."""
        self._advance(step.ts_ms)
        self._apply_prices(step)
        self.funding.settle(step.ts_ms, step.funding)
        await self.funding.collect(step.ts_ms)
        self._mark()
        self._check_breakers(step.ts_ms)
        self._snapshot_when_due(step.ts_ms)
        if self.resumable:
            self._checkpoint(step.ts_ms)

    async def step(self, step: MarketStep) -> None:
        """Run one hourly step (see the module docstring)."""
        ts_ms = step.ts_ms
        # Every line logged during the step (alerts included) carries the agent's clock.
        structlog.contextvars.bind_contextvars(ts_ms=ts_ms)
        self._advance(ts_ms)
        self._fill_resting(step)
        self._apply_prices(step)
        await self.executor.sync_makers(ts_ms)  # maker fills booked before funding settles
        self.funding.settle(ts_ms, step.funding)
        await self.funding.collect(ts_ms)
        if self.options is not None:  # option expiries, chains and marks
            self.options.on_step(ts_ms)
        if self.live_options is not None:  # the venues' chains and the listed options' marks
            await self.live_options.on_step(ts_ms)
        self._mark()
        self._check_breakers(ts_ms)
        await self.flatten_on_breaker()
        self.kill_switch.poll(ts_ms)
        self.kill_switch.flatten_pending = False  # the runner flattens in this step
        if self.executor.unresolved:
            await self.executor.follow_up(ts_ms, self.market.prices)
        await self.executor.work_makers(ts_ms)  # maker-first orders: fills, re-quotes
        await self.executor.check_exposure(ts_ms, self.market.prices)  # naked budget
        await self.runner.run_step(ts_ms)
        if self._ratio_drift:  # pairs the strategies did not restate this cycle
            await self.rebalance_drift()
        await self.positions.check(ts_ms)
        await self.safety.review(ts_ms)
        await self._check_margin(ts_ms)
        self._snapshot_when_due(ts_ms)
        if self.resumable:
            self._checkpoint(ts_ms)

    async def mark_tick(self, update: MarksUpdate) -> None:
        """Streamed marks between hourly steps: price the paper venues, mark the ledger, check
        the breakers and the pairs' naked budgets, snapshot when due. History and strategies
        are untouched."""
        self._advance(update.ts_ms)
        now_ms = self.clock.now_ms()
        self._apply_marks(update.prices, now_ms)
        self._mark()
        self._check_breakers(now_ms)
        self.kill_switch.poll(now_ms)
        await self.executor.work_makers(now_ms)  # maker-first orders: fills, re-quotes
        await self.executor.check_exposure(now_ms, self.market.prices)  # naked budget
        self._snapshot_when_due(now_ms)
        if self.resumable:
            self.journal.flush()

    async def replay_bar(self, step: MarketStep) -> None:
        """A replay bar between two hourly steps (``[market_data] bar_interval`` below 1h):
        its closes (and those of the instruments priced by them, ``price_source``) as marks
        (:meth:`mark_tick`: paper venues, the ledger, breakers, kill switch, naked budgets),
        then :meth:`after_marks` (breaker/halt flatten, the standing pairs' drift check),
        the safety guard and the margin watch. The market data's hourly history and the
        strategies wait for the hour; a settlement comes only on the hour (a bar that carries
        one is settled all the same)."""
        prices = dict(step.closes)
        for iid, source in self.price_source.items():
            price = step.closes.get(source)
            if price is not None:
                prices[iid] = price
        for iid, volume in step.volumes.items():  # the hour's volume sums its bars
            if iid in self.instruments:
                self.market.on_volume(iid, volume)
        if any(venue.has_resting for venue in self.paper.values()):
            self._advance(step.ts_ms)
            self._fill_resting(step)
            await self.executor.sync_makers(self.clock.now_ms())
        if step.funding:
            self._advance(step.ts_ms)
            self.funding.settle(step.ts_ms, step.funding)
        await self.mark_tick(_Marks(step.ts_ms, prices))
        await self.after_marks()
        await self.review_safety()
        await self._check_margin(self.clock.now_ms())

    def warm_marks(self, step: MarketStep) -> None:
        """A replay bar between two hourly steps of the warm-up (or of what a resumed run
        already processed): its closes become the latest prices (its volumes count toward the
        hour's); no history, nothing booked."""
        self._advance(step.ts_ms)
        self._apply_marks(step.closes, self.clock.now_ms())
        for iid, volume in step.volumes.items():  # the hour's volume sums its bars
            if iid in self.instruments:
                self.market.on_volume(iid, volume)
        for iid, source in self.price_source.items():
            price = step.closes.get(source)
            if price is not None:
                self._apply_marks({iid: price}, self.clock.now_ms())

    async def flatten_on_halt(self) -> None:
        """Between hourly steps (live, after a mark tick): a ``zerobeta halt --flatten`` noticed
        since the last step closes every strategy's positions now, once, at the latest marks,
        instead of waiting up to an hour for the next step (which flattens what is left)."""
        if not self.kill_switch.flatten_pending or not self.risk.halted:
            return
        self.kill_switch.flatten_pending = False
        now_ms = self.clock.now_ms()
        await self.runner.flatten_all(now_ms, "kill_switch_flatten")
        if self.resumable:
            self.journal.flush()

    # ---- between hourly steps (live) ----------------------------------------------------------

    async def after_marks(self) -> None:
        """After a mark tick (live): :meth:`flatten_on_breaker`, :meth:`flatten_on_halt`, then
        :meth:`rebalance_drift`, each at the latest marks."""
        structlog.contextvars.bind_contextvars(ts_ms=self.clock.now_ms())
        traded = await self.flatten_on_breaker()
        await self.flatten_on_halt()
        traded += await self.rebalance_drift()
        if traded:
            self._commit_between_steps()

    async def flatten_on_breaker(self) -> int:
        """A drawdown breaker that tripped with ``[risk] flatten_on_breaker`` (at a step or a
        mark tick) closes every strategy's positions now, once, instead of each at its next
        cycle; returns the intents traded."""
        if not self._breaker_flatten_pending:
            return 0
        self._breaker_flatten_pending = False
        if not self.risk.halted:
            return 0
        return await self.runner.flatten_all(self.clock.now_ms(), "breaker_flatten")

    async def rebalance_drift(self) -> int:
        """Standing pairs (the targets of the last intents that reached them) with a leg off
        its target by more than ``[execution] drift_frac`` — a fill the account stream
        brought — are traded back now (:meth:`~agent.execution.executor.Executor.drifted`);
        returns the intents that sent orders."""
        now_ms = self.clock.now_ms()
        traded = 0
        for strategy, intent in self.executor.drifted(self.market.prices, now_ms):
            outcome = await self.executor.execute(strategy, intent, self.market.prices, now_ms)
            traded += 1 if outcome.orders_sent else 0
            # logged once the orders are out: the line is not on the mark-to-order path
            log.warning(
                "drift_rebalance",
                strategy=strategy,
                intent_id=intent.intent_id,
                status=outcome.status,
            )
        self.between_steps.drift_rebalances += traded
        return traded

    async def on_predicted_funding(self, tick: FundingTick) -> None:
        """The venues' predicted funding rates (live): into the market data apart from the
        settled ones (never settled or booked), then the funding-flip monitor's review, which
        may close a guarded position before the settlement."""
        self._between_steps_at(tick.ts_ms)
        for rate in tick.rates:
            if rate.instrument_id in self.instruments:
                self.market.on_predicted_funding(rate)
        self.between_steps.predicted_funding += len(tick.rates)
        if await self.runner.guard_funding_flips(self.clock.now_ms()):
            self._commit_between_steps()

    async def on_account(self, tick: AccountTick) -> None:
        """Account-stream events (live): fills booked as they arrive (each trade once, however
        it came), order updates journaled when they say more; an unresolved order they are
        about is looked up at once; then the drift check (a late fill moves a leg)."""
        now_ms = self._between_steps_at(tick.ts_ms)
        booking = self.executor.book_streamed(tick.events, now_ms)
        self.between_steps.count(booking)
        if booking.touched:
            await self.executor.follow_up(now_ms, self.market.prices, only=booking.touched)
        traded = await self.rebalance_drift()
        if traded or booking.fills_booked or booking.updates_journaled or booking.touched:
            self._commit_between_steps()

    async def on_timer(self, tick: TimerTick) -> None:
        """Follow-up timers fell due (live, :mod:`agent.live.timers`): those unresolved orders
        are looked up again now, their fills booked and their reverse sent."""
        now_ms = self._between_steps_at(tick.ts_ms)
        self.between_steps.timed_lookups += len(tick.order_ids)
        await self.executor.follow_up(now_ms, self.market.prices, only=tick.order_ids)
        self._commit_between_steps()

    async def work_between_intents(
        self, due: Callable[[int], Sequence[str]], wall_now_ms: Callable[[], int]
    ) -> None:
        """During a step (live, :attr:`agent.execution.executor.Executor.between_intents`),
        before each intent: the unresolved orders ``due(now_ms)`` names (the follow-up timers
        that fell due, :meth:`agent.live.timers.FollowUpTimers.take`) are looked up, their
        fills booked and their reverse sent, and the pairs past their naked budget are
        completed or unwound — instead of after the step, which may send intents for a long
        time. ``now_ms`` is the wall clock's (``wall_now_ms``, epoch ms): the engine's own
        clock stands at the step's time while the step runs."""
        now_ms = max(self.clock.now_ms(), wall_now_ms())
        order_ids = due(now_ms)
        if order_ids:
            self.between_steps.timed_lookups += len(order_ids)
            await self.executor.follow_up(now_ms, self.market.prices, only=order_ids)
        await self.executor.check_exposure(now_ms, self.market.prices)

    def unresolved_order_ids(self) -> list[str]:
        """Client order ids of the orders whose outcome is still unknown (the follow-up
        timers' schedule follows them)."""
        return [order.client_order_id for order in self.executor.unresolved]

    def _between_steps_at(self, ts_ms: int) -> int:
        """Move the clock to an event between steps; every line logged while it is handled
        carries the agent's clock. Returns the clock's time."""
        self._advance(ts_ms)
        now_ms = self.clock.now_ms()
        structlog.contextvars.bind_contextvars(ts_ms=now_ms)
        return now_ms

    def _commit_between_steps(self) -> None:
        """Make what changed between steps durable: a resumable run writes its checkpoint again
        (still naming the last step, with the unresolved orders, monitor and risk state as they
        are now), any other run flushes the journal."""
        if self.resumable and self._last_step_ms is not None:
            self._checkpoint(self._last_step_ms)
        else:
            self.journal.flush()

    async def review_safety(self) -> None:
        """Between hourly steps (live, after a mark tick): venue health and the liquidation
        distances at the latest marks (:class:`~agent.engine.safety.SafetyGuard`: alerts,
        refusals, pair reductions)."""
        await self.safety.review(self.clock.now_ms())
        if self.resumable:
            self.journal.flush()

    async def shutdown(self, ts_ms: int) -> None:
        """A stop was requested (SIGTERM/SIGINT): apply ``[execution] on_shutdown`` before the
        run ends — ``leave`` keeps positions (and any maker-first order resting: a resumed run
        does not follow it up);
        ``cancel_orders`` cancels the resting orders the agent placed (maker-first
        orders, :mod:`agent.execution.maker`; every other order is IOC), booking what they
        filled; ``flatten`` closes every strategy's positions
        (closing intents, through the executor and risk like any close), within
        ``on_shutdown_timeout_s`` seconds, then the run ends. Each is logged
        (``shutdown_policy_applied``)."""
        policy = self.cfg.execution.on_shutdown
        traded = 0
        cancelled = 0
        if policy == "cancel_orders":
            cancelled = await self.executor.maker.cancel_all(ts_ms)
        if policy == "flatten":
            try:
                async with asyncio.timeout(self.cfg.execution.on_shutdown_timeout_s):
                    traded = await self.runner.flatten_all(ts_ms, "shutdown_flatten")
            except TimeoutError:
                log.error(
                    "shutdown_flatten_timed_out",
                    timeout_s=self.cfg.execution.on_shutdown_timeout_s,
                    positions_left=sum(1 for q in self.portfolio.positions().values() if q),
                )
        log.warning(
            "shutdown_policy_applied",
            on_shutdown=policy,
            intents_traded=traded,
            resting_orders_cancelled=cancelled,
            positions_left=sum(1 for q in self.portfolio.positions().values() if q),
        )

    def finish(self, ts_ms: int) -> None:
        """End of the run at ``ts_ms``: last strategy states, a snapshot, the final marks; the
        journal flushed."""
        self.runner.journal_states(ts_ms)
        self.executor.close_exposure(ts_ms)  # pairs still unbalanced
        self._snapshot(ts_ms)
        marks = {str(i): str(p) for i, p in sorted(self.portfolio.marks().items())}
        self.journal.record_meta(
            {"window_last_ms": str(ts_ms), "final_marks_json": json.dumps(marks, sort_keys=True)}
        )
        self.journal.flush()

    # ---- what the drivers read -------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """Run counters for the end-of-run log line and :class:`~agent.supervisor.RunResult`."""
        return {
            "orders_sent": self.executor.orders_sent,
            "orders_rejected": self.executor.orders_rejected,
            "risk_rejections": self.executor.risk_rejections,
            "funding_payments": self.funding.payments,
            "funding_interval_changes": len(self.funding.schedule.changes),
            "closes_carried": self.closes_carried,
            "unresolved_orders": len(self.executor.unresolved),
        }

    # ---- checkpoints -------------------------------------------------------------------------

    def checkpoint(self, ts_ms: int) -> dict[str, Any]:
        """The resume checkpoint after the step at ``ts_ms`` (JSON-able; see
        :mod:`agent.engine.resume`): the engine's snapshot clock, the runner's schedule and
        monitor, the risk engine's state, the booked-payment count, the unresolved orders, the
        standing targets, the working maker-first intents, the venues the margin watch has
        alerted and the safety guard's state."""
        return {
            "version": CHECKPOINT_VERSION,
            "last_step_ms": ts_ms,
            "last_snapshot_ms": self.last_snapshot_ms,
            **self.runner.checkpoint(),
            "risk": self.risk.state(),
            "funding_payments": self.funding.payments,
            "unresolved_orders": self.executor.unresolved.state(),
            "standing_targets": self.executor.standing.state(),
            "maker_working": self.executor.maker.state(),
            "margin_watch": self.margin.state(),
            "safety": self.safety.state(),
        }

    def checkpoint_start(self) -> None:
        """A new resumable run's first checkpoint, at the engine's clock, before any order can
        leave: a run killed during its first step then resumes — and looks up the orders it
        wrote ahead and never saw answered — instead of starting over without them. Nothing
        for a resumed run (it has one) or a run that is not resumable."""
        if self.resumable and self.resumed_from_ms is None:
            self._checkpoint(self.clock.now_ms())

    def restore(self, checkpoint: Mapping[str, Any]) -> None:
        """The engine's own part of a checkpoint: its snapshot clock (its parts restore theirs,
        :func:`agent.engine.builder.build_engine`)."""
        self.last_snapshot_ms = int(checkpoint.get("last_snapshot_ms", 0))
        self._last_step_ms = int(checkpoint["last_step_ms"])

    def _checkpoint(self, ts_ms: int) -> None:
        """Journal changed strategy states and the resume checkpoint, and commit the step."""
        self._last_step_ms = ts_ms
        self.runner.journal_states(ts_ms)
        self.journal.record_meta({RESUME_KEY: json.dumps(self.checkpoint(ts_ms), sort_keys=True)})
        self.journal.flush()

    # ---- one step's parts --------------------------------------------------------------------

    def _advance(self, ts_ms: int) -> None:
        """Move the clock to ``ts_ms`` (never back: a live bar closes before the marks that
        arrived while it was being fetched)."""
        self.clock.advance_to(max(ts_ms, self.clock.now_ms()))

    def _apply_marks(self, prices: Mapping[InstrumentId, float], now_ms: int) -> None:
        """Intra-hour prices (quote units) into the market data and the paper venues; prices
        of instruments the run does not track are ignored."""
        for iid, price in prices.items():
            if iid not in self.instruments:
                continue
            self.market.on_price(iid, price, now_ms)
            venue = self._paper_of[iid]
            if venue is not None:
                venue.update_price(iid, price)

    def _fill_resting(self, step: MarketStep) -> None:
        """Resting (maker-first) paper orders fill from the step's bars before the prices
        move to their closes (:meth:`PaperVenue.fill_resting`); instruments priced by
        another's closes (``price_source``) fill from its bar. A step without bars (live
        data: closes and marks only) fills nothing: live-paper maker orders end at their
        deadline as taker."""
        for paper_venue in self.paper.values():
            if paper_venue.has_resting:
                break
        else:
            return  # no resting order (the usual step)
        if not isinstance(step, BarsStep):
            return
        bars = {bar.instrument_id: bar for bar in step.bars}
        for iid, source in self.price_source.items():
            bar = bars.get(source)
            if bar is not None:
                bars[iid] = replace(bar, instrument_id=iid)
        for iid, bar in bars.items():
            venue = self.paper.get(iid.venue)
            if venue is not None and venue.has_resting and iid in self.instruments:
                venue.fill_resting(bar)

    def _apply_prices(self, step: MarketStep) -> None:
        ts_ms, market = step.ts_ms, self.market
        closes = step.closes
        # the step's prices as two columns (ids, prices), the closes then the sourced ones
        columns = self._close_columns
        prices = columns.prices(closes)
        ids = columns.ids
        if not columns.overlap:  # the usual step
            market.on_close_columns(ids, prices, ts_ms)
        else:
            market.on_closes(closes, ts_ms)
            # instruments priced by another's closes, after the closes
            market.on_close_columns(columns.sourced_ids, prices[len(closes) :], ts_ms)
        # each paper venue's prices in one call
        for venue, indexes in self._paper_of.groups(ids):
            # ascending distinct positions: as many as their span means a run of consecutive
            # items (a venue's, the usual step; or every one)
            first, last = indexes[0], indexes[-1]
            if last - first + 1 == len(indexes):
                if len(indexes) == len(ids):
                    venue.update_price_columns(ids, prices)
                else:
                    stop = last + 1
                    venue.update_price_columns(ids[first:stop], prices[first:stop])
            else:
                venue.update_price_columns(
                    tuple([ids[k] for k in indexes]), [prices[k] for k in indexes]
                )
        self._apply_volumes(step)
        # An hour without a close keeps every history hour-aligned by repeating the previous
        # close (logged when an instrument starts missing, not every hour it stays missing).
        carried = market.carry_closes(ts_ms)
        market.close_volumes()
        if carried or self._carried_last_step:
            self.closes_carried += len(carried)
            started = [str(i) for i in carried if i not in self._carried_last_step]
            if started:
                log.warning("close_carried_forward", ts_ms=ts_ms, instruments=started)
            self._carried_last_step = frozenset(carried)

    def _apply_volumes(self, step: MarketStep) -> None:
        """The step's volumes into the market data, those of instruments the run does not track
        left out: a replay step's as its two columns when every one is tracked (the usual
        step), else as pairs."""
        market, instruments = self.market, self.instruments
        if hasattr(step, "volume_columns"):
            ids, values = cast("VolumeColumnsStep", step).volume_columns()
            if self._all_tracked(ids):
                market.on_volume_columns(ids, values)
                return
        volumes = step.volumes
        if instruments.keys() >= volumes.keys():  # every volume's instrument is tracked
            market.on_volumes(volumes)
        else:
            market.on_volumes((i, v) for i, v in volumes.items() if i in instruments)

    def _all_tracked(self, ids: tuple[InstrumentId, ...]) -> bool:
        """Whether every one of ``ids`` is an instrument of the run; the last ids found so are
        kept (a replay names the same ones every step; instruments are only ever added, a
        listed option, so they stay so)."""
        kept = self._tracked_ids
        if kept is not None and (kept is ids or kept == ids):
            return True
        if not self.instruments.keys() >= set(ids):
            return False
        self._tracked_ids = ids
        return True

    def _mark(self) -> None:
        held = self.portfolio.positions()
        if held:  # nothing held, nothing to mark
            prices = self.market.prices
            self.portfolio.mark_floats({i: prices[i] for i in held if i in prices})

    def _check_breakers(self, ts_ms: int) -> None:
        for event in self.risk.update_equity(ts_ms, float(self.portfolio.equity_usd())):
            log.error(
                "circuit_breaker_tripped", rule=event.rule, limit=event.limit, value=event.value
            )
            self.journal.record_risk_event(
                ts_ms, event.rule, event.limit, event.value, "", "", "breaker"
            )
            flattening = self.cfg.risk.flatten_on_breaker
            self.alerts.notify(
                breaker_notice(event.rule, event.limit, event.value, ts_ms, flattening)
            )
            if self.cfg.risk.flatten_on_breaker:
                self.runner.request_flatten()
                self._breaker_flatten_pending = True  # flatten_on_breaker: at once

    async def _check_margin(self, ts_ms: int) -> None:
        checked = await self.margin.check(self.venues, self.paper, self.portfolio.venue_equity_usd)
        for alert in checked:
            self.journal.record_alert(ts_ms, SUPERVISOR, alert)
            log.warning(alert.kind, message=alert.message, **alert.fields)
            self.alerts.notify(Notice.from_alert(alert, ts_ms, Severity.WARNING))

    def _snapshot_when_due(self, ts_ms: int) -> None:
        if ts_ms - self.last_snapshot_ms >= self._snapshot_every_ms:
            self._snapshot(ts_ms)

    def _snapshot(self, ts_ms: int) -> None:
        self.last_snapshot_ms = ts_ms
        self.portfolio.check_identity()
        reference_price = self.market.fresh_price(self.reference_instrument, ts_ms)
        self.journal.record_equity_snapshot(ts_ms, self.portfolio, reference_price)


class PaperOf(dict[InstrumentId, PaperVenue | None]):
    """Each instrument's paper venue (None live, or for a venue without one), looked up once
    per instrument instead of by venue name on every close and mark (the per-bar path): index
    it (``paper_of[iid]``), ``get`` does not fill it. :meth:`groups` splits a step's
    instruments by paper venue."""

    def __init__(self, paper: Mapping[str, PaperVenue]) -> None:
        super().__init__()
        self._paper = paper
        self._grouped: tuple[InstrumentId, ...] | None = None
        self._groups: list[tuple[PaperVenue, list[int]]] = []

    def __missing__(self, iid: InstrumentId) -> PaperVenue | None:
        venue = self[iid] = self._paper.get(iid.venue)
        return venue

    def groups(self, ids: tuple[InstrumentId, ...]) -> list[tuple[PaperVenue, list[int]]]:
        """The positions in ``ids`` of each paper venue's instruments, in order, venues in
        the order they first appear (instruments without a paper venue left out). Kept for
        the last ``ids``: a replay names the same instruments in the same order every hour;
        other ``ids`` are grouped anew (an instrument's paper venue never changes)."""
        if ids != self._grouped:
            groups: dict[PaperVenue, list[int]] = {}
            for index, iid in enumerate(ids):
                venue = self[iid]
                if venue is not None:
                    groups.setdefault(venue, []).append(index)
            self._grouped, self._groups = ids, list(groups.items())
        return self._groups


class CloseColumns:
    """A step's closes and the closes of the instruments priced by another's
    (``price_source``: their source's close) as two columns: the ids (:attr:`ids`, the
    closes' then the sourced ones in ``price_source``'s order, those whose source has no close
    left out) and their prices (:meth:`prices`). What depends only on the closes' ids — the
    ids, the positions of the sources among the closes, whether a sourced instrument has a
    close of its own (:attr:`overlap`) — is kept for the last ids: a replay names the same
    instruments in the same order every hour (the ids are then the same tuple every step).
    ``price_source`` is read when the ids change: it must not change meanwhile."""

    def __init__(self, price_source: Mapping[InstrumentId, InstrumentId]) -> None:
        self._price_source = price_source
        self._keys: tuple[InstrumentId, ...] | None = None
        self._sources: Callable[[list[float]], Sequence[float]] = _none_sourced
        self.ids: tuple[InstrumentId, ...] = ()
        """The closes' ids, then the sourced ones (of the last :meth:`prices`)."""
        self.sourced_ids: tuple[InstrumentId, ...] = ()
        """The sourced ids alone."""
        self.overlap = False
        """Whether a sourced id has a close of its own (then it is priced twice, the sourced
        price last)."""

    def prices(self, closes: Mapping[InstrumentId, float]) -> list[float]:
        """The prices of :attr:`ids` (quote units): ``closes``' values, then each sourced
        instrument's source's close; the ids are laid out anew when the closes' differ."""
        keys = tuple(closes)
        if keys != self._keys:
            self._lay_out(keys)
        values = list(closes.values())
        return [*values, *self._sources(values)]

    def _lay_out(self, keys: tuple[InstrumentId, ...]) -> None:
        position = {iid: k for k, iid in enumerate(keys)}
        sourced = [(i, position[s]) for i, s in self._price_source.items() if s in position]
        self._keys = keys
        self.sourced_ids = tuple([i for i, _ in sourced])
        self.ids = (*keys, *self.sourced_ids)
        self.overlap = not position.keys().isdisjoint(self.sourced_ids)
        positions = [k for _, k in sourced]
        if len(positions) > 1:  # itemgetter of one position returns the value, not a tuple
            self._sources = itemgetter(*positions)
        elif positions:
            self._sources = partial(_one_sourced, positions[0])
        else:
            self._sources = _none_sourced


def _none_sourced(values: list[float]) -> Sequence[float]:
    return ()


def _one_sourced(position: int, values: list[float]) -> Sequence[float]:
    return (values[position],)
