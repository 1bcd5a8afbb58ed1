"""The strategies' turn in an engine step: the funding-flip guard, then each strategy that is
due (refit when due, decide, the breaker flatten, execute), and the journaling of their
decisions and states.

Functions of :class:`agent.engine.engine.Engine` kept apart from its market-data steps; they touch
only its public components.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic

import structlog

from strategies.base import (
    Decision,
    MarketSnapshot,
    PairIntent,
    StateT,
    Strategy,
    TargetPosition,
)
from venues.model import InstrumentId

if TYPE_CHECKING:
    from agent.engine.engine import Engine

log = structlog.get_logger("zerobeta.engine")


@dataclass
class _StrategySlot(Generic[StateT]):
    """One strategy in the engine: its state, when it next decides and refits (epoch ms UTC),
    its cycle and traded-intent counts, and the state last journaled (and when)."""

    strategy: Strategy[StateT]
    state: StateT
    next_decide_ms: int = 0
    next_refit_ms: int = 0
    cycles: int = 0
    intents: int = 0
    instruments: tuple[InstrumentId, ...] = ()
    journaled_state: StateT | None = None
    state_journaled_ms: int = -(2**62)


async def guard_funding_flips(engine: Engine, ts_ms: int) -> None:
    """Funding-flip monitor: close guarded positions whose funding turned against them,
    on behalf of their owner strategies (their P&L stays theirs)."""
    if engine.monitor is None:
        return
    guarded = engine.monitor.config.guarded_strategies
    positions = {
        name: {i: float(q) for i, q in engine.portfolio.positions(name).items() if q}
        for name in guarded
    }
    held = {i for p in positions.values() for i in p}
    snapshot = engine.market.snapshot(ts_ms, held, 1)
    decision = engine.monitor.review(positions, snapshot, engine.monitor_state, ts_ms)
    if decision.state != engine.monitor_state:
        engine.journal.record_strategy_state(ts_ms, engine.monitor.name, decision.state.to_json())
    engine.monitor_state = decision.state
    engine.blocked = decision.blocked
    for alert in decision.alerts:
        engine.journal.record_alert(ts_ms, engine.monitor.name, alert)
        log.warning(alert.kind, strategy=engine.monitor.name, message=alert.message, **alert.fields)
    for owner, intent in decision.closes:
        await engine.executor.execute(owner, intent, snapshot.prices, ts_ms)


async def run_cycle(engine: Engine, slot: _StrategySlot, ts_ms: int) -> None:
    """One cycle of ``slot``'s strategy at ``ts_ms``: refit when due, decide, flatten on a
    tripped breaker, execute the intents, journal; one ``cycle_completed`` line."""
    strategy = slot.strategy
    slot.next_decide_ms = ts_ms + strategy.cadence_s * 1000
    snapshot = engine.market.snapshot(ts_ms, slot.instruments, strategy.history_bars)
    if strategy.refit_every_s is not None and ts_ms >= slot.next_refit_ms:
        slot.state = await asyncio.to_thread(strategy.refit, snapshot, slot.state, ts_ms)
        if _history_complete(snapshot, strategy.history_bars):
            # Until every instrument has its full history the fit is provisional: refit
            # next cycle instead of waiting a whole refit period.
            slot.next_refit_ms = ts_ms + strategy.refit_every_s * 1000
    view = engine.portfolio.to_view(
        strategy.name, 1.0, engine.blocked.get(strategy.name, frozenset())
    )
    decision = strategy.decide(snapshot, view, slot.state, ts_ms)
    slot.state = decision.state
    slot.cycles += 1
    if _flatten_requested(engine):
        decision = _flatten_decision(strategy.name, view.positions, ts_ms, decision)
    outcomes = [
        await engine.executor.execute(strategy.name, intent, snapshot.prices, ts_ms)
        for intent in decision.intents
    ]
    traded = sum(1 for o in outcomes if o.orders_sent)
    slot.intents += traded
    _journal_decision(engine, slot, decision, ts_ms, traded > 0)
    log.info(
        "cycle_completed",
        strategy=strategy.name,
        ts_ms=ts_ms,
        intents=len(decision.intents),
        intents_traded=traded,
        **decision.diagnostics,
    )


def _flatten_requested(engine: Engine) -> bool:
    return engine.pending_flatten and engine.risk.halted


def _journal_decision(
    engine: Engine, slot: _StrategySlot, decision: Decision, ts_ms: int, traded: bool
) -> None:
    for alert in decision.alerts:
        engine.journal.record_alert(ts_ms, slot.strategy.name, alert)
        log.warning(alert.kind, strategy=slot.strategy.name, message=alert.message, **alert.fields)
    due = traded or ts_ms - slot.state_journaled_ms >= engine.cfg.journal.state_every_s * 1000
    if due:
        journal_state(engine, slot, ts_ms)


def journal_state(engine: Engine, slot: _StrategySlot, ts_ms: int) -> None:
    """Journal the slot's state if it changed since it was last journaled (states are frozen
    dataclasses without NaN: ``!=`` is a change of their JSON)."""
    if slot.state != slot.journaled_state:
        slot.journaled_state = slot.state
        slot.state_journaled_ms = ts_ms
        engine.journal.record_strategy_state(ts_ms, slot.strategy.name, slot.state.to_json())


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
