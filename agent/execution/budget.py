"""The naked-exposure budget: a pair unbalanced for too long is completed or unwound.

:func:`enforce_budgets` runs at every check the engine makes (each hourly step and, live, each
mark tick). It integrates every open pair's unhedged notional up to the check's time at the
latest marks (:meth:`agent.execution.exposure.ExposureBook.observe`); a pair whose unhedged
USD·s went past its strategy's ``naked_budget_usd_s`` is then forced, at this check and every
later one until it is balanced (at most ``[execution] max_attempts`` rounds of orders):

1. when it first goes past its budget, its orders whose outcome is unknown are looked up at
   once rather than at the next hourly step (:func:`agent.execution.unresolved.follow_up`
   for that intent only): what they filled is booked, and a late fill of an opening leg is
   reversed reduce-only as usual, an exit's leg completed (later lookups stay with the
   follow-up timers and the hourly follow-up);
2. if it is still unbalanced, it is **completed** when it can be: no order of the pair has an
   unknown outcome (another fill may still come) or a reverse still to send (the follow-up
   sends it), and the venue did not refuse the last order of any lagging leg (below the most
   complete leg's fraction of the plan). The lagging legs are then sent up to the leading
   leg's fraction (leg ``<n>bc``), rounded *up* to a whole lot: rounded down, a lagging leg
   with a coarse lot (0.001 BTC, about 100 USD) would stay short of the fraction by up to a
   lot, the leading leg (0.1 XRP lots) would keep an excess of many of its own lots, and the
   pair would stay "unbalanced" with nothing left a round could send (a faulty replay kept
   such a 28 USD residual for 67 h). Rounded up, every completed leg ends less than one of its
   own lots past the leading fraction, which is balanced. Otherwise it is **unwound**: every
   leading leg (above the least complete leg's fraction) without an order of unknown outcome
   or an owed reverse is sent back reduce-only to that fraction (leg ``<n>bu``). An **exit**
   (every order of the pair shrinks its strategy's position) is only ever completed, even
   after a refusal: unwinding a close would reopen the leg it closed. Its completion is not
   sent reduce-only — a venue's position nets every strategy's, so a strategy's close may
   look like an increase there — it only ever shrinks the strategy's own position.

Both are market IOC orders (aggressive: they take liquidity), with the round as the client
order id's attempt, booked like any leg. A pair that cannot be balanced now (every leg
blocked: refused, or its own orders still followed up; or out of rounds) is reported once to a
person (``pair_unwind_failed``) and stays tracked; the next check acts on what the follow-up
found.
Balanced pairs with nothing left to resolve are journaled
(:meth:`~agent.execution.exposure.ExposureBook.settle`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import structlog

from agent.execution.desk import OrderDesk
from agent.execution.exposure import ExposureLeg, PairExposure
from agent.execution.plan import PlannedLeg
from agent.notify import past_budget_notice, unwind_failed_notice
from venues.model import InstrumentId

log = structlog.get_logger("zerobeta.execution")

COMPLETED = "completed"
UNWOUND = "unwound"


async def enforce_budgets(
    desk: OrderDesk, now_ms: int, prices: Mapping[InstrumentId, float]
) -> None:
    """Integrate every open pair to ``now_ms`` (epoch ms, agent clock) at ``prices`` (quote
    units), force the ones past their budget, journal the balanced ones. Never raises
    ``VenueError`` (the desk returns them)."""
    book = desk.exposure
    if not book:
        return
    book.observe(now_ms, prices)
    for pair in book.over_budget():
        await _force(desk, pair, now_ms, prices)
    book.settle(now_ms, desk.unresolved.intents())


async def _force(
    desk: OrderDesk, pair: PairExposure, now_ms: int, prices: Mapping[InstrumentId, float]
) -> None:
    """One round of budget action on ``pair`` (see the module docstring)."""
    if not pair.past_budget:
        pair.past_budget = True
        log.warning(
            "pair_past_naked_budget",
            strategy=pair.strategy,
            intent_id=pair.intent_id,
            unhedged_usd_s=round(pair.unhedged_usd_s, 3),
            naked_budget_usd_s=pair.leg_risk.naked_budget_usd_s,
            unhedged_usd=round(pair.unhedged_usd, 2),
        )
        desk.alerts.notify(
            past_budget_notice(
                pair.strategy,
                pair.intent_id,
                pair.unhedged_usd_s,
                pair.leg_risk.naked_budget_usd_s,
                pair.unhedged_usd,
                now_ms,
            )
        )
        if pair.key in desk.unresolved.intents():
            await desk.follow_up(now_ms, prices, intent=pair.key)
            desk.exposure.observe(now_ms, prices)
            if pair.balanced:
                return
    if pair.forced >= desk.max_attempts:
        _cannot_balance(desk, pair, now_ms, "out_of_rounds")
        return
    blocked = desk.unresolved.pending_instruments(pair.strategy, pair.intent_id)
    if pair.closing:  # an exit: finish closing what lags; never reopen a leg
        orders = _completion(pair, blocked, refused_ok=True)
        # not reduce-only: the venue's position nets every strategy's, so a strategy's close
        # can be refused as "would increase" there; the completion only shrinks its own
        action, reduce_only = COMPLETED, False
    else:
        orders = _completion(pair, blocked)
        action, reduce_only = COMPLETED, False
        if not orders:
            orders, action, reduce_only = _unwind(pair, blocked), UNWOUND, True
    if not orders:
        _cannot_balance(desk, pair, now_ms, "legs_blocked")
        return
    attempt = pair.forced
    pair.forced += 1
    pair.action = action
    log.warning(
        "pair_budget_action",
        strategy=pair.strategy,
        intent_id=pair.intent_id,
        action=action,
        round=attempt,
        orders=[(str(leg.instrument.id), str(qty)) for leg, qty in orders],
    )
    suffix = "bc" if action == COMPLETED else "bu"
    for leg, qty in orders:
        planned = PlannedLeg(leg.index, leg.instrument, qty, leg.price)
        await desk.send_leg(
            pair.strategy,
            pair.intent_id,
            f"{leg.index}{suffix}",
            planned,
            attempt,
            now_ms,
            reduce_only,
        )


def _completion(
    pair: PairExposure, blocked: set[InstrumentId], *, refused_ok: bool = False
) -> list[tuple[ExposureLeg, Decimal]]:
    """Orders bringing every lagging leg up to the leading fraction (rounded up to a lot:
    module docstring); [] when the pair cannot
    be completed (an order of unknown outcome, a lagging leg refused — unless ``refused_ok``:
    an exit's reduce-only completion is tried again) or nothing of a lot step is missing."""
    if blocked:
        return []
    target = pair.leading_frac
    orders = []
    for leg in pair.legs.values():
        qty = leg.qty_at(target, whole_lot=True)
        if qty == 0:
            continue
        if leg.refused and not refused_ok:
            return []
        orders.append((leg, qty))
    return orders


def _unwind(pair: PairExposure, blocked: set[InstrumentId]) -> list[tuple[ExposureLeg, Decimal]]:
    """Reduce-only orders bringing every leading leg whose outcome is known back to the
    least complete leg's fraction."""
    target = pair.balanced_frac
    orders = []
    for iid, leg in pair.legs.items():
        qty = leg.qty_at(target)
        if qty != 0 and iid not in blocked:
            orders.append((leg, qty))
    return orders


def _cannot_balance(desk: OrderDesk, pair: PairExposure, now_ms: int, reason: str) -> None:
    """Tell a person once that ``pair`` stays unbalanced past its budget."""
    if pair.alerted:
        return
    pair.alerted = True
    legs: Sequence[str] = [str(iid) for iid in pair.legs]
    log.error(
        "pair_naked_past_budget",
        strategy=pair.strategy,
        intent_id=pair.intent_id,
        reason=reason,
        unhedged_usd=round(pair.unhedged_usd, 2),
        unhedged_usd_s=round(pair.unhedged_usd_s, 3),
    )
    desk.alerts.notify(unwind_failed_notice(pair.strategy, pair.intent_id, legs, now_ms))
