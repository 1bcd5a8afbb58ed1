"""Sending a planned intent's legs as a pair (steps 4–5 of :mod:`agent.execution.executor`).

The legs go out concurrently, each with a deterministic client order id; a leg that does not
fill completely is retried (new attempt id) while its outcome is known and was not a
rejection, and once a leg cannot complete every fill is unwound reduce-only, so no unhedged
leg is left. Two opposite legs on one venue with native pair orders (``venues.pairs``) go
instead as one atomic pair order: sent once, looked up by the pair's id when its outcome is
unknown, never re-sent.

Functions of :class:`agent.execution.desk.Executor` kept apart from its single-order steps
(send one leg, register an unresolved order, book), which they call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

import structlog

from agent.execution import events
from agent.execution.desk import OrderDesk
from agent.execution.plan import PlannedLeg, client_order_id, order_request
from agent.execution.unresolved import LegResult, outcome_unknown, retryable
from agent.notify import unwind_failed_notice
from venues.base import Venue
from venues.errors import OrderNotFound, OrderRejected, VenueError
from venues.model import OrderAck
from venues.pairs import PairOrderVenue

log = structlog.get_logger("zerobeta.execution")


@dataclass(frozen=True, slots=True)
class IntentOutcome:
    """What happened to one intent: ``status`` is ``skipped`` (nothing to do), ``risk_rejected``,
    ``rejected`` (a native pair order refused or provably not executed: nothing filled),
    ``filled``, ``unwound`` or ``partial`` (a leg could neither complete nor unwind, or its
    outcome stayed unknown); ``orders_sent`` counts every order attempt, unwinds included."""

    intent_id: str
    status: str
    orders_sent: int
    detail: str = ""


@dataclass(slots=True)
class _LegRun:
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
    desk: OrderDesk, strategy: str, intent_id: str, planned: Sequence[PlannedLeg], ts_ms: int
) -> IntentOutcome:
    """Send every leg; retry the incomplete ones while retrying is safe; else unwind.
    Two opposite legs on a venue with native pair orders go as one atomic order."""
    native = _native_pair_venue(desk.venues, planned)
    if native is not None:
        return await _send_native_pair(desk, strategy, intent_id, planned, native, ts_ms)
    legs = [_LegRun(p) for p in planned]
    sent = await _send_round(desk, strategy, intent_id, legs, 0, ts_ms)
    for attempt in range(1, desk.max_attempts):
        incomplete = [leg for leg in legs if not leg.complete]
        if not incomplete or not all(retryable(leg.result) for leg in incomplete):
            break
        sent += await _send_round(desk, strategy, intent_id, incomplete, attempt, ts_ms)
    if all(leg.complete for leg in legs):
        detail = "" if sent == len(legs) else "completed_on_retry"
        return IntentOutcome(intent_id, "filled", sent, detail)
    return await _abandon(desk, strategy, intent_id, legs, sent, ts_ms)


async def _send_round(
    desk: OrderDesk,
    strategy: str,
    intent_id: str,
    legs: Sequence[_LegRun],
    attempt: int,
    ts_ms: int,
) -> int:
    """Send what is left of each leg concurrently as ``attempt``; returns orders sent."""
    results = await asyncio.gather(
        *(
            desk.send_leg(
                strategy,
                intent_id,
                str(leg.planned.leg),
                replace(leg.planned, delta_qty=leg.remaining_qty),
                attempt,
                ts_ms,
            )
            for leg in legs
        )
    )
    for leg, result in zip(legs, results, strict=True):
        leg.record(result)
    return len(legs)


async def _abandon(
    desk: OrderDesk,
    strategy: str,
    intent_id: str,
    legs: Sequence[_LegRun],
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
    desk: OrderDesk, strategy: str, intent_id: str, legs: Sequence[_LegRun], ts_ms: int
) -> tuple[bool, int]:
    """Reverse the net filled qty of every leg (reduce-only market orders, leg ``<n>u``)."""
    sent = 0
    ok = True
    for leg in legs:
        if leg.filled_qty == 0:
            continue
        reverse = _LegRun(replace(leg.planned, delta_qty=-leg.filled_qty))
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


def _native_pair_venue(
    venues: Mapping[str, Venue], planned: Sequence[PlannedLeg]
) -> PairOrderVenue | None:
    """The venue, when both legs are on one venue with native pair orders and go opposite
    ways (one long, one short); else None."""
    if len(planned) != 2 or planned[0].delta_qty * planned[1].delta_qty >= 0:
        return None
    names = {p.instrument.id.venue for p in planned}
    venue = venues.get(names.pop()) if len(names) == 1 else None
    return venue if isinstance(venue, PairOrderVenue) else None
