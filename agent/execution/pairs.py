"""Sending a planned intent's legs as a pair (steps 4–5 of :mod:`agent.execution.executor`),
under the strategy's leg policy (``leg_policy``, :class:`agent.config.sections.LegRiskConfig`):

- ``simultaneous`` (the default): the legs go out concurrently, each with a deterministic
  client order id; a leg that does not fill completely is retried (new attempt id) while its
  outcome is known and was not a rejection, and once a leg cannot complete every fill is
  unwound reduce-only, so no unhedged leg is left;
- ``sequential``: the less liquid leg (:func:`less_liquid_first`) goes first, retried the same
  way; the other legs go out only once it has filled, sized to what it filled (its filled
  fraction of the plan, rounded toward zero to each leg's lot step). If one of them cannot
  complete, the pair is balanced leg against leg: every leg is brought back reduce-only to the
  fraction the least complete leg reached (all the way to flat when that is 0).

An **exit** (``closing``: every order shrinks the strategy's position) is never unwound or
brought back under either policy: undoing a leg that closed would reopen it (the paired leg
that failed is still open, so the strategy would hold both again, one of them without the
close it asked for). A refused leg of an exit is retried like a leg that expired (the
budget retries it anyway: an exit is only ever completed); if it still cannot complete, its
filled legs stay closed and the pair is left to the naked budget (:mod:`agent.execution.budget`).

Two opposite legs on one venue with native pair orders (``venues.pairs``) go instead as one
atomic pair order whatever the policy: sent once, looked up by the pair's id when its outcome
is unknown, never re-sent. Every other pair of two or more legs is tracked by the desk's
:class:`~agent.execution.exposure.ExposureBook` from its first order until it is balanced.

Functions of :class:`agent.execution.desk.Executor` kept apart from its single-order steps
(send one leg, register an unresolved order, book), which they call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

import structlog

from agent.config.sections import LegRiskConfig
from agent.execution import events
from agent.execution.desk import OrderDesk
from agent.execution.exposure import DEFAULT_LEG_RISK
from agent.execution.plan import PlannedLeg, client_order_id, order_request
from agent.execution.unresolved import LegResult, outcome_unknown, retryable
from agent.notify import unwind_failed_notice
from venues.base import Venue
from venues.errors import OrderNotFound, OrderRejected, VenueError
from venues.model import InstrumentId, InstrumentKind, OrderAck, OrderStatus
from venues.pairs import PairOrderVenue

log = structlog.get_logger("zerobeta.execution")


@dataclass(frozen=True, slots=True)
class IntentOutcome:
    """What happened to one intent: ``status`` is ``skipped`` (nothing to do), ``risk_rejected``,
    ``rejected`` (a native pair order refused or provably not executed, or a sequential pair's
    first leg refused or expired: nothing filled), ``filled``, ``scaled`` (sequential: every
    leg filled in the planned ratio, less than planned), ``unwound`` or ``partial`` (a leg
    could neither complete nor unwind, or its outcome stayed unknown); ``orders_sent`` counts
    every order attempt, unwinds included."""

    intent_id: str
    status: str
    orders_sent: int
    detail: str = ""


@dataclass(slots=True)
class LegRun:
    """Progress of one planned leg over its attempts; ``filled_qty`` signed base units."""

    planned: PlannedLeg
    filled_qty: Decimal = Decimal(0)
    result: LegResult | None = None

    @property
    def remaining_qty(self) -> Decimal:
        return self.planned.delta_qty - self.filled_qty

    @property
    def complete(self) -> bool:
        return self.remaining_qty == 0

    def record(self, result: LegResult) -> None:
        self.result = result
        if isinstance(result, OrderAck):
            self.filled_qty += result.side.sign * result.filled_qty


async def send_pair(
    desk: OrderDesk,
    strategy: str,
    intent_id: str,
    planned: Sequence[PlannedLeg],
    ts_ms: int,
    leg_risk: LegRiskConfig = DEFAULT_LEG_RISK,
    reference: InstrumentId | None = None,
    closing: bool = False,
) -> IntentOutcome:
    """Send every leg under ``leg_risk.leg_policy`` (see the module docstring). Two opposite
    legs on a venue with native pair orders go as one atomic order. ``reference`` is the
    market reference instrument (``[market_data] reference_instrument``) that
    :func:`less_liquid_first` ranks as the most liquid."""
    native = native_pair_venue(desk.venues, planned)
    if native is not None:
        return await _send_native_pair(desk, strategy, intent_id, planned, native, ts_ms)
    if len(planned) < 2:  # one order: nothing to hedge against
        return await _send_simultaneous(desk, strategy, intent_id, planned, ts_ms)
    desk.exposure.open(strategy, intent_id, planned, leg_risk, ts_ms, closing)
    if leg_risk.leg_policy == "sequential":
        outcome = await _send_sequential(
            desk, strategy, intent_id, planned, ts_ms, reference, closing
        )
    else:
        outcome = await _send_simultaneous(desk, strategy, intent_id, planned, ts_ms, closing)
    pending = (strategy, intent_id) in desk.unresolved.intents()
    desk.exposure.sent(strategy, intent_id, outcome.status, ts_ms, pending)
    return outcome


def less_liquid_first(
    planned: Sequence[PlannedLeg], reference: InstrumentId | None
) -> list[PlannedLeg]:
    """``planned`` from the least to the most liquid leg, as far as the engine can tell.

    The hourly steps carry bar closes only (no traded volume reaches the engine), so
    liquidity is ranked by what is known of each instrument, in this order: a **spot** leg
    before a perp (spot books are thinner than the perps on the venues zerobeta trades); a
    leg on a venue other than the market reference's (``[market_data]
    reference_instrument``, by default the Binance BTC perp: the deepest market configured)
    before one on it; any instrument before the reference instrument itself; ties in the
    plan's leg order.
    """

    def rank(p: PlannedLeg) -> tuple[bool, bool, bool, int]:
        iid = p.instrument.id
        on_reference_venue = reference is not None and iid.venue == reference.venue
        return (iid.kind is not InstrumentKind.SPOT, on_reference_venue, iid == reference, p.leg)

    return sorted(planned, key=rank)


async def _send_simultaneous(
    desk: OrderDesk,
    strategy: str,
    intent_id: str,
    planned: Sequence[PlannedLeg],
    ts_ms: int,
    closing: bool = False,
) -> IntentOutcome:
    """Send every leg at once; retry the incomplete ones while retrying is safe; else unwind
    every fill (an exit: leave it to the budget)."""
    legs = [LegRun(p) for p in planned]
    sent = await _complete(desk, strategy, intent_id, legs, ts_ms, closing)
    if all(leg.complete for leg in legs):
        detail = "" if sent == len(legs) else "completed_on_retry"
        return IntentOutcome(intent_id, "filled", sent, detail)
    if closing:
        return exit_incomplete(strategy, intent_id, legs, sent)
    return await abandon_legs(desk, strategy, intent_id, legs, sent, ts_ms)


async def _send_sequential(
    desk: OrderDesk,
    strategy: str,
    intent_id: str,
    planned: Sequence[PlannedLeg],
    ts_ms: int,
    reference: InstrumentId | None,
    closing: bool = False,
) -> IntentOutcome:
    """The less liquid leg first; the others once it filled, sized to what it filled; if one
    of them cannot complete, every leg back to the least complete one's fraction (an exit:
    left to the budget)."""
    first, *others = less_liquid_first(planned, reference)
    lead = LegRun(first)
    sent = await _complete(desk, strategy, intent_id, [lead], ts_ms, closing)
    frac = lead.filled_qty / first.delta_qty
    if frac == 0:
        unknown = outcome_unknown(lead.result)
        log.warning(
            "pair_first_leg_unfilled",
            strategy=strategy,
            intent_id=intent_id,
            instrument=str(first.instrument.id),
            outcome_unknown=unknown,
        )
        if unknown:
            return IntentOutcome(intent_id, "partial", sent, "leg_outcome_unknown")
        return IntentOutcome(intent_id, "rejected", sent, "first_leg_unfilled")
    hedges = [LegRun(replace(p, delta_qty=scaled_qty(p, frac))) for p in others]
    to_send = [leg for leg in hedges if leg.planned.delta_qty != 0]
    sent += await _complete(desk, strategy, intent_id, to_send, ts_ms, closing)
    legs = [lead, *hedges]
    unknown = any(outcome_unknown(leg.result) for leg in legs)
    if all(leg.complete for leg in hedges) and all(leg.planned.delta_qty for leg in hedges):
        if unknown:
            return IntentOutcome(intent_id, "partial", sent, "leg_outcome_unknown")
        if frac == 1:
            return IntentOutcome(intent_id, "filled", sent, "sequential")
        return IntentOutcome(intent_id, "scaled", sent, "first_leg_partial")
    if closing:
        return exit_incomplete(strategy, intent_id, legs, sent)
    return await balance_legs(desk, strategy, intent_id, [first, *others], legs, sent, ts_ms)


def exit_incomplete(
    strategy: str, intent_id: str, legs: Sequence[LegRun], sent: int
) -> IntentOutcome:
    """An exit's leg cannot complete: nothing is unwound (module docstring); the pair stays
    tracked unbalanced and the budget completes its lagging legs."""
    log.warning(
        "pair_exit_incomplete",
        strategy=strategy,
        intent_id=intent_id,
        failed_legs=[str(leg.planned.instrument.id) for leg in legs if not leg.complete],
        unknown_legs=[
            str(leg.planned.instrument.id) for leg in legs if outcome_unknown(leg.result)
        ],
    )
    return IntentOutcome(intent_id, "partial", sent, "exit_incomplete")


async def balance_legs(
    desk: OrderDesk,
    strategy: str,
    intent_id: str,
    plan: Sequence[PlannedLeg],
    legs: Sequence[LegRun],
    sent: int,
    ts_ms: int,
) -> IntentOutcome:
    """A sequential hedge leg cannot complete: bring every leg back reduce-only (leg
    ``<n>u``) to the fraction of ``plan`` the least complete leg reached."""
    least = min(leg.filled_qty / p.delta_qty for leg, p in zip(legs, plan, strict=True))
    frac = max(least, Decimal(0))
    unknown = [leg for leg in legs if outcome_unknown(leg.result)]
    log.warning(
        "pair_leg_failed",
        strategy=strategy,
        intent_id=intent_id,
        failed_legs=[str(leg.planned.instrument.id) for leg in legs if not leg.complete],
        unknown_legs=[str(leg.planned.instrument.id) for leg in unknown],
        balanced_frac=str(frac),
    )
    ok = True
    for leg, p in zip(legs, plan, strict=True):
        qty = _toward_zero(frac * p.delta_qty - leg.filled_qty, p.instrument.lot_step)
        if qty == 0:
            continue
        sent += 1
        trim = LegRun(replace(p, delta_qty=qty))
        trim.record(
            await desk.send_leg(strategy, intent_id, f"{p.leg}u", trim.planned, 0, ts_ms, True)
        )
        ok = ok and trim.complete
    if not ok:
        legs_failed = [str(p.instrument.id) for p in plan]
        desk.alerts.notify(unwind_failed_notice(strategy, intent_id, legs_failed, ts_ms))
    if not ok or unknown:
        detail = "leg_outcome_unknown" if unknown else "unwind_failed"
        return IntentOutcome(intent_id, "partial", sent, detail)
    if frac == 0:
        return IntentOutcome(intent_id, "unwound", sent, "leg_failed")
    return IntentOutcome(intent_id, "scaled", sent, "leg_failed")


def scaled_qty(planned: PlannedLeg, frac: Decimal) -> Decimal:
    """``frac`` of ``planned``'s qty, rounded toward zero to its lot step; 0 below the
    instrument's minimum quantity or notional (the whole qty when ``frac`` is 1)."""
    if frac == 1:
        return planned.delta_qty
    instrument = planned.instrument
    qty = _toward_zero(frac * planned.delta_qty, instrument.lot_step)
    notional = abs(qty) * Decimal(repr(planned.price))
    if abs(qty) < instrument.min_qty or notional < instrument.min_notional_usd:
        return Decimal(0)
    return qty


def _toward_zero(qty: Decimal, step: Decimal) -> Decimal:
    """``qty`` (signed) rounded toward zero to a multiple of ``step``."""
    lots = (abs(qty) / step).to_integral_value(rounding=ROUND_DOWN)
    return lots * step if qty > 0 else -lots * step


async def _complete(
    desk: OrderDesk,
    strategy: str,
    intent_id: str,
    legs: Sequence[LegRun],
    ts_ms: int,
    closing: bool = False,
) -> int:
    """Send ``legs`` concurrently, then what is left of the incomplete ones again (new
    attempt) while every one of them may safely be re-sent (``closing``: a refused leg
    too); returns orders sent."""
    if not legs:
        return 0
    sent = await _send_round(desk, strategy, intent_id, legs, 0, ts_ms)
    for attempt in range(1, desk.max_attempts):
        incomplete = [leg for leg in legs if not leg.complete]
        if not incomplete or not all(
            retryable(leg.result) or (closing and _refused(leg.result)) for leg in incomplete
        ):
            break
        sent += await _send_round(desk, strategy, intent_id, incomplete, attempt, ts_ms)
    return sent


def _refused(result: LegResult | None) -> bool:
    """The venue refused the order (nothing filled, nothing left that may fill)."""
    if isinstance(result, OrderAck):
        return result.status is OrderStatus.REJECTED
    return isinstance(result, OrderRejected)


async def _send_round(
    desk: OrderDesk,
    strategy: str,
    intent_id: str,
    legs: Sequence[LegRun],
    attempt: int,
    ts_ms: int,
) -> int:
    """Send what is left of each leg concurrently as ``attempt``; returns orders sent. A
    single leg is sent in the caller's task (nothing to overlap: no task built for it)."""
    sends = [
        desk.send_leg(
            strategy,
            intent_id,
            str(leg.planned.leg),
            replace(leg.planned, delta_qty=leg.remaining_qty),
            attempt,
            ts_ms,
        )
        for leg in legs
    ]
    results = [await sends[0]] if len(sends) == 1 else await asyncio.gather(*sends)
    for leg, result in zip(legs, results, strict=True):
        leg.record(result)
    return len(legs)


async def abandon_legs(
    desk: OrderDesk,
    strategy: str,
    intent_id: str,
    legs: Sequence[LegRun],
    sent: int,
    ts_ms: int,
) -> IntentOutcome:
    """A leg cannot complete: unwind every fill so no unhedged leg is left."""
    failed = [leg for leg in legs if not leg.complete]
    unknown = [leg for leg in failed if outcome_unknown(leg.result)]
    log.warning(
        "pair_leg_failed",
        strategy=strategy,
        intent_id=intent_id,
        failed_legs=[str(leg.planned.instrument.id) for leg in failed],
        unknown_legs=[str(leg.planned.instrument.id) for leg in unknown],
        filled_legs=sum(1 for leg in legs if leg.filled_qty != 0),
    )
    unwound, extra = await _unwind(desk, strategy, intent_id, legs, ts_ms)
    ok = unwound and not unknown
    log.warning(
        "pair_unwound" if ok else "pair_unwind_failed",
        strategy=strategy,
        intent_id=intent_id,
        legs=len(legs),
    )
    if not ok:
        legs_failed = [str(leg.planned.instrument.id) for leg in failed]
        desk.alerts.notify(unwind_failed_notice(strategy, intent_id, legs_failed, ts_ms))
    detail = "leg_outcome_unknown" if unknown else "leg_failed"
    return IntentOutcome(intent_id, "unwound" if ok else "partial", sent + extra, detail)


async def _unwind(
    desk: OrderDesk, strategy: str, intent_id: str, legs: Sequence[LegRun], ts_ms: int
) -> tuple[bool, int]:
    """Reverse the net filled qty of every leg (reduce-only market orders, leg ``<n>u``)."""
    sent = 0
    ok = True
    for leg in legs:
        if leg.filled_qty == 0:
            continue
        reverse = LegRun(replace(leg.planned, delta_qty=-leg.filled_qty))
        sent += 1
        reverse.record(
            await desk.send_leg(
                strategy, intent_id, f"{leg.planned.leg}u", reverse.planned, 0, ts_ms, True
            )
        )
        ok = ok and reverse.complete
    return ok, sent


async def _send_native_pair(
    desk: OrderDesk,
    strategy: str,
    intent_id: str,
    planned: Sequence[PlannedLeg],
    venue: PairOrderVenue,
    ts_ms: int,
) -> IntentOutcome:
    """Both legs as one atomic pair order (``venues.pairs``): sent once; refused → nothing
    filled; outcome unknown → looked up by the pair's id, never re-sent."""
    requests = [order_request(strategy, intent_id, str(p.leg), p, 0) for p in planned]
    for leg, request in zip(planned, requests, strict=True):
        desk.journal.record_order_request(ts_ms, strategy, intent_id, str(leg.leg), 0, request)
        events.order_sent(strategy, request, ts_ms)
    desk.orders_sent += len(requests)
    pair_client_id = client_order_id(strategy, intent_id, "pair", 0)
    try:
        async with asyncio.timeout(desk.leg_timeout_s):
            pair = await venue.place_pair(pair_client_id, requests, strategy)
    except OrderRejected as err:
        for request in requests:
            desk.record_rejection(strategy, request, err, ts_ms)
        return IntentOutcome(intent_id, "rejected", len(requests), "pair_rejected")
    except (VenueError, TimeoutError) as err:
        log.warning(
            "pair_outcome_unknown",
            strategy=strategy,
            intent_id=intent_id,
            pair_client_id=pair_client_id,
            error=type(err).__name__,
        )
        try:
            async with asyncio.timeout(desk.leg_timeout_s):
                pair = await venue.fetch_pair(pair_client_id)
        except OrderNotFound:
            return IntentOutcome(intent_id, "rejected", len(requests), "pair_not_executed")
        except (VenueError, TimeoutError):
            for leg, request in zip(planned, requests, strict=True):
                desk.keep_unresolved(
                    strategy, intent_id, str(leg.leg), request, None, ts_ms, pair_client_id
                )
            return IntentOutcome(intent_id, "partial", len(requests), "pair_outcome_unknown")
    by_id = {r.client_order_id: r for r in requests}
    for ack in pair.legs:
        desk.book(strategy, by_id[ack.client_order_id], ack, ts_ms)
    log.info("native_pair_filled", strategy=strategy, intent_id=intent_id, pair_id=pair.pair_id)
    return IntentOutcome(intent_id, "filled", len(requests), "native_pair")


def native_pair_venue(
    venues: Mapping[str, Venue], planned: Sequence[PlannedLeg]
) -> PairOrderVenue | None:
    """The venue, when both legs are on one venue with native pair orders and go opposite
    ways (one long, one short); else None."""
    if len(planned) != 2 or planned[0].delta_qty * planned[1].delta_qty >= 0:
        return None
    names = {p.instrument.id.venue for p in planned}
    venue = venues.get(names.pop()) if len(names) == 1 else None
    return venue if isinstance(venue, PairOrderVenue) else None
