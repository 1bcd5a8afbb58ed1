"""The strategy runner: the strategies' turn in an engine step.

:class:`StrategyRunner` owns everything about running the strategies: one
:class:`StrategySlot` per strategy (its typed state, when it next decides and refits, its cycle
and traded-intent counts, the state last journaled), the funding-flip monitor with its state and
the base assets it blocks per owner strategy, and the breaker's flatten request. Each step it

1. lets the funding-flip monitor close guarded positions whose funding turned against them, on
   behalf of their owner strategies (their P&L stays theirs), and block the asset for a cooldown
   (live also between steps, on the venues' predicted rates: :meth:`StrategyRunner.
   guard_funding_flips`);
2. runs each strategy that is due, in order: refit when due (in a worker thread: every
   ``refit_every_s``, every cycle while none of its instruments has its full history, and at
   once when an instrument that lacked it at the last refit has it, e.g. a symbol listed during
   the run), ``decide``,
   record which legs its intents trade together (:class:`~agent.engine.pair_book.PairBook`),
   replace the decision by a flatten when a tripped breaker asked for one, execute the intents,
   journal alerts and the state (when it traded, else at most every ``state_every_s``); one
   ``cycle_completed`` line per cycle at debug (the strategy's diagnostics nested in its
   ``diagnostics`` field).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic

import structlog

from agent.engine.marketdata import MarketData
from agent.engine.pair_book import PairBook
from agent.errors import JournalError
from agent.execution.executor import Executor
from agent.journal.journal import Journal
from agent.logs import debug_enabled
from agent.notify import DISCARD, AlertSink, Notice
from agent.portfolio.ledger import Portfolio
from agent.risk import RiskEngine
from strategies.base import (
    Decision,
    MarketSnapshot,
    PairIntent,
    StateT,
    Strategy,
    TargetPosition,
)
from strategies.flip_monitor import FlipMonitorState, FundingFlipMonitor
from venues.model import FundingRate, InstrumentId

if TYPE_CHECKING:
    from agent.engine.live_options import LiveOptionChains
    from agent.engine.options import OptionMarket

log = structlog.get_logger("zerobeta.engine")

_NEVER_MS = -(2**62)
_FOREVER_MS = 2**62


@dataclass(frozen=True, slots=True)
class _QuietReview:
    """A funding-flip review that changed nothing (no close, no alert, the state it was given
    came back), with what it was made of (:meth:`StrategyRunner.guard_funding_flips`).

    Attributes
    ----------
    monitor : FundingFlipMonitor
        The monitor that reviewed.
    state : FlipMonitorState
        The state it reviewed and returned (the same object is expected next time).
    ts_ms : int
        Review time, epoch ms UTC.
    next_cooldown_end_ms : int
        The earliest end of a cooldown in ``state``, epoch ms UTC (``_FOREVER_MS`` when none):
        from then on the review would expire it.
    positions : dict[str, dict[InstrumentId, Decimal]]
        Each guarded strategy's non-zero positions, base units (exact).
    funding : dict[InstrumentId, tuple[FundingRate | None, FundingRate | None]]
        Per instrument held, its settled and predicted funding rates.
    blocked : Mapping[str, frozenset[str]]
        Per owner, the base assets the review blocks.
    """

    monitor: FundingFlipMonitor
    state: FlipMonitorState
    ts_ms: int
    next_cooldown_end_ms: int
    positions: dict[str, dict[InstrumentId, Decimal]]
    funding: dict[InstrumentId, tuple[FundingRate | None, FundingRate | None]]
    blocked: Mapping[str, frozenset[str]]


@dataclass
class StrategySlot(Generic[StateT]):
    """One strategy in the runner: its state, when it next decides and refits (epoch ms UTC),
    its cycle and traded-intent counts, and the state last journaled (and when)."""

    strategy: Strategy[StateT]
    state: StateT
    next_decide_ms: int = 0
    next_refit_ms: int = 0
    cycles: int = 0
    intents: int = 0
    awaiting_history: frozenset[InstrumentId] = frozenset()
    """Instruments without their full history at the last refit while others had theirs (a
    symbol listed later): the strategy refits again as soon as one of them has it."""
    instruments: tuple[InstrumentId, ...] = ()
    journaled_state: StateT | None = None
    state_journaled_ms: int = _NEVER_MS

    @classmethod
    def of(cls, strategy: Strategy[StateT]) -> StrategySlot[StateT]:
        """A new slot: the strategy's initial state, due at once."""
        return cls(strategy, strategy.initial_state(), instruments=tuple(strategy.instruments()))


class StrategyRunner:
    """Runs the strategies and the funding-flip monitor (see the module docstring).

    Parameters
    ----------
    strategies : Sequence[Strategy[Any]]
        In the order they run within a step.
    monitor : FundingFlipMonitor | None
        The funding-flip guardian, None when disabled.
    market, portfolio, executor, journal, risk
        The engine's parts the strategies read and act through.
    state_every_s : int
        Journal a strategy's unchanged-by-trading state at most this often, s.
    alerts : AlertSink
        Where every journaled alert is also handed (the dispatcher sends the kinds of
        ``[alerts] kinds``: the monitor's ``funding_flip_close`` by default).
    options : OptionMarket | LiveOptionChains | None
        The model option market (``[option_chain]``) or, on live data, the venue's option
        chains: lists the options a decision names before its intents are executed; None
        without either.
    """

    def __init__(
        self,
        strategies: Sequence[Strategy[Any]],
        monitor: FundingFlipMonitor | None,
        *,
        market: MarketData,
        portfolio: Portfolio,
        executor: Executor,
        journal: Journal,
        risk: RiskEngine,
        state_every_s: int,
        alerts: AlertSink = DISCARD,
        options: OptionMarket | LiveOptionChains | None = None,
    ) -> None:
        self.slots: list[StrategySlot[Any]] = [StrategySlot.of(s) for s in strategies]
        self.monitor = monitor
        self.monitor_state = monitor.initial_state() if monitor else FlipMonitorState()
        self.blocked: Mapping[str, frozenset[str]] = {}
        self.pairs = PairBook()
        """Which legs each strategy's intents trade together (the safety guard reduces and
        closes by pair)."""
        self._flatten_requested = False
        self._flatten_at_once = False
        self._market = market
        self._portfolio = portfolio
        self._executor = executor
        self._journal = journal
        self._risk = risk
        self._state_every_ms = state_every_s * 1000
        self._alerts = alerts
        self._options = options
        self._quiet_review: _QuietReview | None = None  # see guard_funding_flips

    @property
    def names(self) -> list[str]:
        """The strategies' names, in run order."""
        return [slot.strategy.name for slot in self.slots]

    def request_flatten(self, *, at_once: bool = False) -> None:
        """While opening stays halted, every strategy's next cycle closes its positions instead
        of deciding: a breaker tripped with ``flatten_on_breaker``. ``at_once`` (an operator's
        ``zerobeta halt --flatten``): a strategy not due at the next step is flattened at that
        step too, without deciding."""
        self._flatten_requested = True
        self._flatten_at_once = self._flatten_at_once or at_once

    def cancel_flatten(self) -> None:
        """Forget a flatten request (the kill switch was lifted and no breaker holds)."""
        self._flatten_requested = False
        self._flatten_at_once = False

    async def run_step(self, ts_ms: int) -> None:
        """The flip guard, then every strategy due at ``ts_ms``, in order (and, after
        ``request_flatten(at_once=True)``, the flatten of every strategy not due)."""
        await self.guard_funding_flips(ts_ms)
        flatten_all = self._flatten_at_once and self._flatten_requested and self._risk.halted
        for slot in self.slots:
            if ts_ms >= slot.next_decide_ms:
                await self._run_cycle(slot, ts_ms)
            elif flatten_all:
                await self.flatten(slot.strategy.name, ts_ms, "kill_switch_flatten")

    async def flatten_all(self, ts_ms: int, reason: str) -> int:
        """Close every strategy's positions now, at the market data's latest prices, without
        deciding (a stop with ``[execution] on_shutdown = "flatten"``); returns the intents
        traded."""
        traded = 0
        for slot in self.slots:
            traded += await self.flatten(slot.strategy.name, ts_ms, reason)
        return traded

    async def flatten(self, strategy: str, ts_ms: int, reason: str) -> int:
        """Close ``strategy``'s positions now (one closing intent, journaled like any);
        returns 1 if it traded, else 0."""
        view = self._portfolio.to_view(strategy, 1.0)
        legs = tuple(TargetPosition(i, 0.0) for i, q in sorted(view.positions.items()) if q)
        if not legs:
            return 0
        intent = PairIntent(f"{reason}-{ts_ms}", legs, reason, opening=False)
        outcome = await self._executor.execute(
            strategy, intent, self._market.prices, ts_ms, urgent=True
        )
        log.warning("strategy_flattened", strategy=strategy, reason=reason, legs=len(legs))
        return 1 if outcome.orders_sent else 0

    def journal_states(self, ts_ms: int) -> None:
        """Journal every strategy state that changed since it was last journaled."""
        for slot in self.slots:
            self._journal_state(slot, ts_ms)

    # ---- checkpoints -----------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """The runner's part of a resume checkpoint (JSON-able): ``schedule`` (per strategy
        ``[next_decide_ms, next_refit_ms, cycles, intents]``, then the instruments whose full
        history its refit awaits, when there are any), ``monitor_state``, ``blocked`` and
        ``pending_flatten``."""
        return {
            "schedule": {s.strategy.name: _schedule(s) for s in self.slots},
            "monitor_state": self.monitor_state.to_json() if self.monitor else {},
            "blocked": {k: sorted(v) for k, v in sorted(self.blocked.items())},
            "pending_flatten": self._flatten_requested,
        }

    def restore(
        self, checkpoint: Mapping[str, Any], states: Mapping[str, Any], journal_path: str
    ) -> None:
        """Put the strategies and the monitor where a checkpoint left them: each strategy's last
        journaled state (decoded by its ``load_state``, any state layout version) and schedule.

        Raises
        ------
        JournalError
            If a journaled state or the monitor's cannot be decoded.
        """
        schedule = checkpoint.get("schedule", {})
        try:
            for slot in self.slots:
                name = slot.strategy.name
                if name in states:
                    slot.state = slot.strategy.load_state(states[name])
                    slot.journaled_state = slot.state
                if name in schedule:
                    times, awaiting = schedule[name][:4], schedule[name][4:]
                    slot.next_decide_ms, slot.next_refit_ms, slot.cycles, slot.intents = (
                        int(v) for v in times
                    )
                    slot.awaiting_history = frozenset(
                        InstrumentId.parse(i) for ids in awaiting for i in ids
                    )
            if self.monitor is not None and checkpoint.get("monitor_state"):
                self.monitor_state = self.monitor.load_state(checkpoint["monitor_state"])
        except (KeyError, ValueError, TypeError) as err:
            raise JournalError(f"cannot resume: {err}", path=journal_path) from err
        self.blocked = {k: frozenset(v) for k, v in checkpoint.get("blocked", {}).items()}
        self._flatten_requested = bool(checkpoint.get("pending_flatten", False))

    # ---- one step ----------------------------------------------------------------------------

    async def guard_funding_flips(self, ts_ms: int) -> bool:
        """The funding-flip monitor's review at ``ts_ms`` (each step, and live on every
        predicted-funding update between steps): its alerts journaled, the closes it orders
        executed for their owners, the assets it blocks updated. True when its state changed
        (a settlement counted, a prediction acted on, a cooldown set or expired).

        A review that changed nothing (no close, no alert, the state it was given) is kept
        (:class:`_QuietReview`); while the guarded positions, the settled and predicted
        funding of the held instruments and the monitor's state stay as they were, time does
        not go back and no cooldown ends, the review would change nothing again (it depends on
        time only through the cooldowns' ends and the predictions already past), so it is not
        run: most steps."""
        if self.monitor is None:
            return False
        monitor = self.monitor
        market = self._market
        exact_positions = {
            name: self._portfolio.positions(name) for name in monitor.config.guarded_strategies
        }
        held = {i for p in exact_positions.values() for i in p}
        funding = {i: (market.funding_of(i), market.predicted_funding_of(i)) for i in held}
        quiet = self._quiet_review
        if (
            quiet is not None
            and quiet.monitor is monitor
            and quiet.state is self.monitor_state
            and quiet.ts_ms <= ts_ms < quiet.next_cooldown_end_ms
            and quiet.positions == exact_positions
            and quiet.funding == funding
        ):
            self.blocked = quiet.blocked
            return False
        self._quiet_review = None
        positions = {
            name: {i: float(q) for i, q in p.items() if q} for name, p in exact_positions.items()
        }
        held = {i for p in positions.values() for i in p}
        # as a tuple (in the set's order): the market data keeps its layout for the next
        # review of the same holdings (a funding settlement changes the rates, not the ids)
        snapshot = market.snapshot(ts_ms, tuple(held), 1)
        decision = monitor.review(positions, snapshot, self.monitor_state, ts_ms)
        changed = decision.state != self.monitor_state
        if changed:
            self._journal.record_strategy_state(ts_ms, monitor.name, decision.state.to_json())
        elif not decision.alerts and not decision.closes:
            self._quiet_review = _QuietReview(
                monitor=monitor,
                state=decision.state,
                ts_ms=ts_ms,
                next_cooldown_end_ms=min(
                    (u for bases in decision.state.cooldowns.values() for u in bases.values()),
                    default=_FOREVER_MS,
                ),
                positions=exact_positions,
                funding=funding,
                blocked=decision.blocked,
            )
        self.monitor_state = decision.state
        self.blocked = decision.blocked
        for alert in decision.alerts:
            self._journal.record_alert(ts_ms, monitor.name, alert)
            log.warning(alert.kind, strategy=monitor.name, message=alert.message, **alert.fields)
            self._alerts.notify(Notice.from_alert(alert, ts_ms, source=monitor.name))
        for owner, intent in decision.closes:
            await self._executor.execute(owner, intent, snapshot.prices, ts_ms, urgent=True)
        return changed

    async def _run_cycle(self, slot: StrategySlot[Any], ts_ms: int) -> None:
        strategy = slot.strategy
        slot.next_decide_ms = ts_ms + strategy.cadence_s * 1000
        snapshot = self._market.snapshot(ts_ms, slot.instruments, strategy.history_bars)
        if strategy.refit_every_s is not None and (
            ts_ms >= slot.next_refit_ms
            or (
                slot.awaiting_history
                and _history_arrived(snapshot, slot.awaiting_history, strategy.history_bars)
            )
        ):
            slot.state = await asyncio.to_thread(strategy.refit, snapshot, slot.state, ts_ms)
            short = _history_short(snapshot, strategy.history_bars)
            if not short or len(short) < len(snapshot.closes):
                # Some instrument (or none is asked for) has its full history: the next refit
                # is a period away, or sooner when one of the others gets its full history (a
                # symbol listed later joins then). While none has it the fit is provisional:
                # refit next cycle.
                slot.next_refit_ms = ts_ms + strategy.refit_every_s * 1000
                slot.awaiting_history = short
        blocked = self.blocked.get(strategy.name, frozenset())
        view = self._portfolio.to_view(strategy.name, 1.0, blocked)
        decision = strategy.decide(snapshot, view, slot.state, ts_ms)
        slot.state = decision.state
        slot.cycles += 1
        self.pairs.record(strategy.name, decision.intents)
        if self._flatten_requested and self._risk.halted:
            decision = _flatten_decision(strategy.name, view.positions, ts_ms, decision)
        prices = snapshot.prices
        if self._options is not None:  # options first named now become instruments
            prices = self._options.list_for(decision.intents, prices, ts_ms)
        traded = 0
        for intent in decision.intents:
            outcome = await self._executor.execute(
                strategy.name,
                intent,
                prices,
                ts_ms,
                urgent=intent.reason == FLATTEN_REASON,  # a breaker flatten goes as taker
            )
            if outcome.orders_sent:
                traded += 1
        slot.intents += traded
        self._journal_decision(slot, decision, ts_ms, traded > 0)
        if debug_enabled():  # binding a logger for a dropped line costs more than the cycle
            log.debug(
                "cycle_completed",
                strategy=strategy.name,
                ts_ms=ts_ms,
                intents=len(decision.intents),
                intents_traded=traded,
                diagnostics=decision.diagnostics,
            )

    def _journal_decision(
        self, slot: StrategySlot[Any], decision: Decision[Any], ts_ms: int, traded: bool
    ) -> None:
        for alert in decision.alerts:
            self._journal.record_alert(ts_ms, slot.strategy.name, alert)
            log.warning(
                alert.kind, strategy=slot.strategy.name, message=alert.message, **alert.fields
            )
            self._alerts.notify(Notice.from_alert(alert, ts_ms, source=slot.strategy.name))
        if traded or ts_ms - slot.state_journaled_ms >= self._state_every_ms:
            self._journal_state(slot, ts_ms)

    def _journal_state(self, slot: StrategySlot[Any], ts_ms: int) -> None:
        """Journal the slot's state if it changed since it was last journaled (states are frozen
        dataclasses without NaN: ``!=`` is a change of their JSON; the very state journaled,
        returned again by a cycle that changed nothing, is no change)."""
        if slot.state is not slot.journaled_state and slot.state != slot.journaled_state:
            slot.journaled_state = slot.state
            slot.state_journaled_ms = ts_ms
            self._journal.record_strategy_state(ts_ms, slot.strategy.name, slot.state.to_json())


FLATTEN_REASON = "breaker_flatten"
"""Reason of the intent that flattens a strategy halted by a breaker."""


def _schedule(slot: StrategySlot[Any]) -> list[Any]:
    """A slot's ``schedule`` entry of a checkpoint (see :meth:`StrategyRunner.checkpoint`)."""
    entry: list[Any] = [slot.next_decide_ms, slot.next_refit_ms, slot.cycles, slot.intents]
    if slot.awaiting_history:
        entry.append(sorted(str(i) for i in slot.awaiting_history))
    return entry


def _history_short(snapshot: MarketSnapshot, history_bars: int) -> frozenset[InstrumentId]:
    """The snapshot's instruments with fewer than ``history_bars`` closes."""
    return frozenset(i for i, closes in snapshot.closes.items() if len(closes) < history_bars)


def _history_arrived(
    snapshot: MarketSnapshot, awaited: frozenset[InstrumentId], history_bars: int
) -> bool:
    """Whether one of the ``awaited`` instruments now has ``history_bars`` closes."""
    return any(len(snapshot.closes.get(i, ())) >= history_bars for i in awaited)


def _flatten_decision(
    strategy: str, positions: Mapping[InstrumentId, float], ts_ms: int, decision: Decision[Any]
) -> Decision[Any]:
    legs = tuple(TargetPosition(i, 0.0) for i, q in sorted(positions.items()) if q)
    if not legs:
        return decision
    intent = PairIntent(f"flatten-{ts_ms}", legs, FLATTEN_REASON, opening=False)
    return Decision((intent,), decision.state, decision.alerts, decision.diagnostics)
