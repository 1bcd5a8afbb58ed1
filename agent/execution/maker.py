"""Maker-first execution (``execution_style = "maker_first"`` in a ``[strategies.<name>]``
section, :class:`agent.config.sections.LegRiskConfig`).

A maker-first intent's orders are post-only limits at the touch (the best bid for a buy, the
best ask for a sell, from the venue's quotes; rounded away from the other side to the tick)
instead of IOC/market orders:

- the order rests; at every work pass (:meth:`MakerDesk.work`: each hourly step and every
  mark tick / sub-hour replay bar, before the naked-budget check and the strategies) it is
  looked up, its new fills booked, and it is re-quoted (cancelled, sent again under the next
  attempt's client order id) when the touch moved or the venue ended it unfilled (Bybit and
  OKX cancel a post-only order that would take at once); a post-only refusal because the
  price moved through it (``PostOnlyWouldCross``) is re-quoted at the next pass, not counted
  as a refusal;
- ``maker_deadline_s`` after the intent was sent (agent clock: in a replay a whole number of
  bars) what is left is cancelled and sent as taker (IOC/market, retried like any leg);
  another refusal, or a new intent of the strategy on one of its instruments, brings the
  deadline forward;
- ``leg_policy = "simultaneous"``: every leg rests post-only; once they are done, a pair whose
  legs could not all complete is unwound as :func:`agent.execution.pairs.abandon_legs` does;
- ``leg_policy = "sequential"``: only the less liquid leg
  (:func:`agent.execution.pairs.less_liquid_first`) rests; each time it fills, the other legs
  are hedged at once as taker to the fraction it reached (rounded toward zero to each leg's
  lot step: :func:`agent.execution.pairs.scaled_qty`); a hedge that cannot complete balances
  the pair as :func:`agent.execution.pairs.balance_legs` does.

While an intent is working its pair is "sending" for the exposure book (the naked budget does
not act on it: the deadline bounds it), its instruments are busy for the drift check, and its
targets stand only once it is done. Intents the engine sends to reduce risk (flattens,
liquidation-distance reductions) always go as taker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import structlog

from agent.config.sections import LegRiskConfig
from agent.execution.desk import OrderDesk
from agent.execution.maker_work import MakerLeg, WorkingIntent, settle_leg_with_journal
from agent.execution.pairs import (
    IntentOutcome,
    LegRun,
    abandon_legs,
    balance_legs,
    exit_incomplete,
    less_liquid_first,
    scaled_qty,
)
from agent.execution.plan import PlannedLeg, order_request
from agent.execution.unresolved import LegResult, outcome_unknown, retryable
from agent.journal.journal import Journal
from strategies.base import PairIntent
from venues.errors import PostOnlyWouldCross, VenueError
from venues.model import Instrument, InstrumentId, OrderAck, OrderRequest, Side

__all__ = ["WORKING", "MakerDesk", "MakerStats", "touch_price"]

log = structlog.get_logger("zerobeta.execution")

WORKING = "working"
"""``IntentOutcome.status`` of a maker-first intent whose orders still rest."""


def touch_price(side: Side, bid: float, ask: float, tick: Decimal) -> Decimal:
    """The post-only price at the touch, quote units: the bid rounded down to ``tick`` for a
    buy, the ask rounded up for a sell (never through the other side); at least one tick."""
    if side is Side.BUY:
        ticks = (Decimal(repr(bid)) / tick).to_integral_value(rounding=ROUND_FLOOR)
    else:
        ticks = (Decimal(repr(ask)) / tick).to_integral_value(rounding=ROUND_CEILING)
    return max(ticks, Decimal(1)) * tick


@dataclass(slots=True)
class MakerStats:
    """Run counters of maker-first execution: post-only orders sent (re-quotes included),
    re-quotes, post-only refusals because the price moved through, legs finished as taker
    after the deadline, and base-unit quantities filled as maker / as taker (hedges and
    deadline remainders), summed as absolute notional, USD."""

    posted: int = 0
    requotes: int = 0
    crossed: int = 0
    deadline_takers: int = 0
    maker_notional_usd: Decimal = Decimal(0)
    taker_notional_usd: Decimal = Decimal(0)


class MakerDesk:
    """The working maker-first intents of one executor (see the module docstring).

    Parameters
    ----------
    desk : OrderDesk
        Sends, books and journals every order.
    reference : InstrumentId | None
        The market reference instrument, ranked most liquid for a sequential pair's first
        leg.
    """

    def __init__(self, desk: OrderDesk, reference: InstrumentId | None) -> None:
        self._desk = desk
        self._reference = reference
        self._working: dict[tuple[str, str], WorkingIntent] = {}
        self.stats = MakerStats()

    def __len__(self) -> int:
        return len(self._working)

    def state(self) -> list[dict[str, Any]]:
        """Checkpoint form: every working intent, oldest first
        (:meth:`~agent.execution.maker_work.WorkingIntent.to_json`)."""
        return [work.to_json() for work in self._working.values()]

    def restore(
        self,
        rows: Iterable[Mapping[str, Any]],
        instruments: Mapping[InstrumentId, Instrument],
        journal: Journal,
    ) -> list[tuple[OrderRequest, int]]:
        """Re-adopt a checkpoint's working intents after a restart (:meth:`state`): each leg
        settled with the journal (:func:`~agent.execution.maker_work.settle_leg_with_journal`),
        the intents then worked as before — looked up, re-quoted, sent as taker at their
        deadline. Returns the post-only orders they re-adopt as resting (request, placed at,
        epoch ms): the start leaves them out of the unanswered-order follow-up, and a paper
        run rests them again on its rebuilt paper venue.

        Raises
        ------
        KeyError, ValueError, TypeError
            ``rows`` not what :meth:`state` wrote, or an instrument the run does not trade
            (the checkpoint loader reports it).
        """
        open_orders = {row.client_order_id: row for row in journal.orders_without_outcome()}
        self._working = {}
        adopted: list[tuple[OrderRequest, int]] = []
        for raw in rows:
            work = WorkingIntent.from_json(raw, instruments)
            for leg in (*work.makers, *work.hedges):
                settle_leg_with_journal(work, leg, journal, open_orders)
                if leg.resting is not None:
                    adopted.append((leg.resting, leg.resting_placed_ms))
            self._working[(work.strategy, work.intent.intent_id)] = work
            log.info(
                "maker_intent_readopted",
                strategy=work.strategy,
                intent_id=work.intent.intent_id,
                resting=sum(leg.resting is not None for leg in work.makers),
                deadline_ms=work.deadline_ms,
            )
        return adopted

    def decided_prices(self) -> dict[str, dict[InstrumentId, float]]:
        """The prices each working intent was decided at, by intent id."""
        return {w.intent.intent_id: dict(w.prices) for w in self._working.values()}

    def busy_instruments(self) -> set[InstrumentId]:
        """Instruments of every working intent."""
        return {iid for w in self._working.values() for iid in w.instruments}

    async def start(
        self,
        strategy: str,
        intent: PairIntent,
        planned: Sequence[PlannedLeg],
        prices: Mapping[InstrumentId, float],
        ts_ms: int,
        leg_risk: LegRiskConfig,
        closing: bool,
    ) -> IntentOutcome:
        """Send ``planned`` maker-first at ``ts_ms``; returns ``working`` (or the final
        outcome when nothing could rest)."""
        desk = self._desk
        pair = len(planned) >= 2
        if pair:
            desk.exposure.open(strategy, intent.intent_id, planned, leg_risk, ts_ms, closing)
        sequential = pair and leg_risk.leg_policy == "sequential"
        if sequential:
            plan = less_liquid_first(planned, self._reference)
            makers = [MakerLeg(LegRun(plan[0]), str(plan[0].leg))]
            hedges = [
                MakerLeg(LegRun(replace(p, delta_qty=Decimal(0))), str(p.leg)) for p in plan[1:]
            ]
        else:
            plan = list(planned)
            makers = [MakerLeg(LegRun(p), str(p.leg)) for p in plan]
            hedges = []
        deadline_ms = ts_ms + round(leg_risk.maker_deadline_s * 1000)
        work = WorkingIntent(
            strategy, intent, dict(prices), plan, sequential, pair, deadline_ms, makers, hedges,
            closing=closing, started_ms=ts_ms,
        )  # fmt: skip
        self._working[(strategy, intent.intent_id)] = work
        for leg in makers:
            await self._post(work, leg, ts_ms)
        outcome = await self._work(work, ts_ms, force=False)
        return outcome or IntentOutcome(intent.intent_id, WORKING, work.sent, "maker_first")

    async def cancel_all(self, now_ms: int) -> int:
        """Cancel every resting order and book what it filled, without sending the rest as
        taker (``[execution] on_shutdown = "cancel_orders"``); the intents end
        (``cancelled``, a pair possibly unbalanced: the naked budget acts on it if the run
        goes on). Returns the orders cancelled."""
        cancelled = 0
        for work in list(self._working.values()):
            for leg in work.makers:
                if leg.resting is not None and await self._cancel(work, leg, now_ms):
                    cancelled += 1
            outcome = IntentOutcome(work.intent.intent_id, "cancelled", work.sent, "shutdown")
            self._end(work, outcome, now_ms)
        return cancelled

    async def sync(self, now_ms: int) -> None:
        """Look up every resting order and book what it filled (no re-quote, no taker): the
        ledger then holds what the venues hold before funding settles on it."""
        for work in list(self._working.values()):
            for leg in work.makers:
                if leg.resting is not None:
                    await self._look_up(work, leg, now_ms)

    async def work(self, now_ms: int) -> list[tuple[str, PairIntent, IntentOutcome]]:
        """One pass over every working intent at ``now_ms``; returns those that ended as
        ``(strategy, intent, outcome)``."""
        done: list[tuple[str, PairIntent, IntentOutcome]] = []
        for work in list(self._working.values()):
            outcome = await self._work(work, now_ms, force=False)
            if outcome is not None:
                done.append((work.strategy, work.intent, outcome))
        return done

    async def finish(
        self, strategy: str | None, instruments: set[InstrumentId] | None, now_ms: int
    ) -> list[tuple[str, PairIntent, IntentOutcome]]:
        """End now (the rest as taker) every working intent of ``strategy`` (None: of every
        strategy) sharing an instrument with ``instruments`` (None: all)."""
        done: list[tuple[str, PairIntent, IntentOutcome]] = []
        for work in list(self._working.values()):
            if strategy is not None and work.strategy != strategy:
                continue
            if instruments is not None and not (work.instruments & instruments):
                continue
            outcome = await self._work(work, now_ms, force=True)
            if outcome is not None:
                done.append((work.strategy, work.intent, outcome))
        return done

    # ---- one pass ------------------------------------------------------------------------

    async def _work(self, work: WorkingIntent, now_ms: int, *, force: bool) -> IntentOutcome | None:
        for leg in work.makers:
            if leg.resting is not None:
                await self._look_up(work, leg, now_ms)
        if work.sequential:
            await self._hedge(work, now_ms)
        legs = [*work.makers, *work.hedges]
        complete = all(leg.run.complete for leg in work.makers)
        failed = any(leg.failed for leg in legs)
        if complete or failed or force or now_ms >= work.deadline_ms:
            if not complete:
                await self._go_taker(work, now_ms)
                if work.sequential:
                    await self._hedge(work, now_ms)
            return self._end(work, await self._outcome(work, now_ms), now_ms)
        for leg in work.makers:
            if not leg.run.complete:
                await self._requote(work, leg, now_ms)
        return None

    async def _look_up(self, work: WorkingIntent, leg: MakerLeg, now_ms: int) -> None:
        """Book what the resting order filled since the last pass."""
        assert leg.resting is not None
        cid, iid = leg.resting.client_order_id, leg.resting.instrument_id
        try:
            async with asyncio.timeout(self._desk.leg_timeout_s):
                ack = await self._desk.venues[iid.venue].fetch_order(iid, cid)
        except (VenueError, TimeoutError) as err:
            log.warning("maker_lookup_failed", client_order_id=cid, error=str(err))
            return
        self._take(work, leg, ack, now_ms)

    def _take(self, work: WorkingIntent, leg: MakerLeg, ack: OrderAck, now_ms: int) -> bool:
        """Book ``ack`` of the leg's resting order; count its new fills on the leg. True
        while the order still rests."""
        assert leg.resting is not None
        new_qty = ack.filled_qty - leg.resting_filled
        if new_qty > 0 or ack.status.is_final:
            self._desk.book(work.strategy, leg.resting, ack, now_ms)
        if new_qty > 0:
            leg.run.filled_qty += ack.side.sign * new_qty
            leg.resting_filled = ack.filled_qty
            price = ack.avg_price if ack.avg_price is not None else Decimal(0)
            self.stats.maker_notional_usd += new_qty * price
        if ack.status.is_final:
            leg.resting = None
            leg.resting_filled = Decimal(0)
        return leg.resting is not None

    async def _cancel(self, work: WorkingIntent, leg: MakerLeg, now_ms: int) -> bool:
        """Cancel the leg's resting order and book its final state; False when the venue's
        answer is unknown (the leg then counts as failed)."""
        assert leg.resting is not None
        cid, iid = leg.resting.client_order_id, leg.resting.instrument_id
        try:
            async with asyncio.timeout(self._desk.leg_timeout_s):
                ack = await self._desk.venues[iid.venue].cancel_order(iid, cid)
        except (VenueError, TimeoutError) as err:
            log.warning("maker_cancel_failed", client_order_id=cid, error=str(err))
            leg.failed = True
            return False
        if self._take(work, leg, ack, now_ms):  # the venue still reports it working
            leg.failed = True
            return False
        return True

    async def _requote(self, work: WorkingIntent, leg: MakerLeg, now_ms: int) -> None:
        price = await self._touch(leg)
        resting = leg.resting
        if price is None or (resting is not None and price == resting.limit_price):
            return
        if resting is not None:
            if not await self._cancel(work, leg, now_ms):
                return
            self.stats.requotes += 1
        if not leg.run.complete:
            await self._post(work, leg, now_ms, price)

    async def _post(
        self, work: WorkingIntent, leg: MakerLeg, now_ms: int, price: Decimal | None = None
    ) -> None:
        """Send what is left of ``leg`` post-only at ``price`` (the touch when None)."""
        if price is None:
            price = await self._touch(leg)
            if price is None:
                return
        planned = replace(leg.run.planned, delta_qty=leg.run.remaining_qty)
        attempt = leg.attempt
        leg.attempt += 1
        work.sent += 1
        self.stats.posted += 1
        result = await self._desk.send_leg(
            work.strategy,
            work.intent.intent_id,
            leg.label,
            planned,
            attempt,
            now_ms,
            post_only_price=price,
        )
        leg.last_result = result
        if isinstance(result, PostOnlyWouldCross):
            self.stats.crossed += 1
            return
        if isinstance(result, VenueError):  # refused, or outcome unknown (kept unresolved)
            leg.failed = True
            return
        leg.resting = order_request(
            work.strategy, work.intent.intent_id, leg.label, planned, attempt, False, price
        )
        leg.resting_filled = Decimal(0)
        leg.resting_placed_ms = now_ms
        self._take(work, leg, result, now_ms)

    async def _touch(self, leg: MakerLeg) -> Decimal | None:
        """The post-only price for the leg now (venue quotes), None when they cannot be read."""
        instrument = leg.run.planned.instrument
        try:
            async with asyncio.timeout(self._desk.leg_timeout_s):
                quotes = await self._desk.venues[instrument.id.venue].fetch_quotes([instrument.id])
        except (VenueError, TimeoutError) as err:
            log.warning("maker_quote_failed", instrument=str(instrument.id), error=str(err))
            return None
        if not quotes:
            return None
        side = Side.BUY if leg.run.planned.delta_qty > 0 else Side.SELL
        return touch_price(side, quotes[0].bid, quotes[0].ask, instrument.tick_size)

    async def _go_taker(self, work: WorkingIntent, now_ms: int) -> None:
        """Cancel every incomplete maker leg's resting order; send its rest as taker."""
        for leg in work.makers:
            if leg.run.complete:
                continue
            if leg.resting is not None and not await self._cancel(work, leg, now_ms):
                continue
            if _unknown(leg.last_result):
                continue
            if leg.run.remaining_qty != 0:
                self.stats.deadline_takers += 1
                log.info(
                    "maker_deadline_taker",
                    strategy=work.strategy,
                    intent_id=work.intent.intent_id,
                    instrument=str(leg.run.planned.instrument.id),
                    qty=str(leg.run.remaining_qty),
                )
                await self._taker(work, leg, now_ms)

    async def _taker(self, work: WorkingIntent, leg: MakerLeg, now_ms: int) -> None:
        """Send the rest of ``leg`` as IOC/market, retried while safe."""
        for _ in range(self._desk.max_attempts):
            if leg.run.complete:
                return
            planned = replace(leg.run.planned, delta_qty=leg.run.remaining_qty)
            attempt = leg.attempt
            leg.attempt += 1
            work.sent += 1
            result = await self._desk.send_leg(
                work.strategy, work.intent.intent_id, leg.label, planned, attempt, now_ms
            )
            before = leg.run.filled_qty
            leg.run.record(result)
            leg.last_result = result
            price = Decimal(repr(planned.price))
            self.stats.taker_notional_usd += abs(leg.run.filled_qty - before) * price
            if not leg.run.complete and not retryable(result):
                leg.failed = True
                return

    async def _hedge(self, work: WorkingIntent, now_ms: int) -> None:
        """Sequential: bring every other leg to the fraction the passive leg filled."""
        lead = work.makers[0]
        frac = lead.run.filled_qty / lead.run.planned.delta_qty
        for hedge, plan in zip(work.hedges, work.plan[1:], strict=True):
            if hedge.failed:
                continue
            target = scaled_qty(plan, frac) if frac else Decimal(0)
            if target == hedge.run.planned.delta_qty or abs(target) < abs(hedge.run.filled_qty):
                continue
            hedge.run.planned = replace(plan, delta_qty=target)
            await self._taker(work, hedge, now_ms)

    async def _outcome(self, work: WorkingIntent, now_ms: int) -> IntentOutcome:
        desk, intent_id = self._desk, work.intent.intent_id
        if not work.sequential:
            runs = [leg.run for leg in work.makers]
            if all(run.complete for run in runs):
                return IntentOutcome(intent_id, "filled", work.sent, "maker_first")
            if not work.pair:
                unknown = _unknown(work.makers[0].last_result)
                detail = "leg_outcome_unknown" if unknown else "maker_first_unfilled"
                status = "partial" if unknown else "rejected"
                if runs[0].filled_qty != 0 and not unknown:
                    status = "scaled"
                return IntentOutcome(intent_id, status, work.sent, detail)
            if work.closing:  # an exit is never unwound: that would reopen what it closed
                return exit_incomplete(work.strategy, intent_id, runs, work.sent)
            return await abandon_legs(desk, work.strategy, intent_id, runs, work.sent, now_ms)
        lead = work.makers[0]
        frac = lead.run.filled_qty / lead.run.planned.delta_qty
        if frac == 0:
            if _unknown(lead.last_result):
                return IntentOutcome(intent_id, "partial", work.sent, "leg_outcome_unknown")
            return IntentOutcome(intent_id, "rejected", work.sent, "first_leg_unfilled")
        runs = [lead.run, *(h.run for h in work.hedges)]
        hedged = all(h.run.complete and h.run.planned.delta_qty for h in work.hedges)
        if hedged and not any(leg.failed for leg in work.hedges):
            status = "filled" if frac == 1 else "scaled"
            return IntentOutcome(intent_id, status, work.sent, "maker_first_sequential")
        if work.closing:
            return exit_incomplete(work.strategy, intent_id, runs, work.sent)
        return await balance_legs(
            desk, work.strategy, intent_id, work.plan, runs, work.sent, now_ms
        )

    def _end(self, work: WorkingIntent, outcome: IntentOutcome, now_ms: int) -> IntentOutcome:
        key = (work.strategy, work.intent.intent_id)
        self._working.pop(key, None)
        if work.pair:
            pending = key in self._desk.unresolved.intents()
            self._desk.exposure.sent(
                work.strategy, work.intent.intent_id, outcome.status, now_ms, pending
            )
        log.info(
            "maker_intent_done",
            strategy=work.strategy,
            intent_id=work.intent.intent_id,
            status=outcome.status,
            orders_sent=work.sent,
        )
        return outcome


def _unknown(result: LegResult | None) -> bool:
    """Whether a leg's last send or lookup left its outcome unknown (a resting order's ack
    is not: it is looked up at every pass)."""
    return isinstance(result, VenueError) and outcome_unknown(result)
