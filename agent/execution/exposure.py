"""Leg risk accounting: how long, and how much, each pair stays unhedged.

A *pair* is an intent sent as two or more separate orders (a native pair order is atomic and
not tracked). From the moment its legs go out until it is balanced with nothing left to
resolve, :class:`ExposureBook` follows every fill booked for it (the order desk reports them:
legs, retries, unwinds, late fills found by a follow-up, budget orders) and integrates its
*unhedged notional* over the agent's clock:

- each leg ``i`` has a planned signed quantity ``q_i`` and a filled one ``f_i`` (base units,
  unwinds included); its completion is ``f_i / q_i``;
- the *balanced fraction* ``c`` is the smallest completion, clamped to ``[0, 1]``: that much
  of the pair is hedged leg against leg, in the planned ratio;
- a leg's *excess* is ``f_i − c·q_i``; the pair's unhedged notional is ``Σ |excess_i| × p_i``
  (USD) over the legs whose excess reaches one lot step (a residual below a lot cannot be
  traded away, so it is not counted), ``p_i`` the latest mark (the fill price, or the price
  the leg was planned at, until a mark arrives);
- between two events (a fill, a check) the level is constant, so the integral is the sum of
  level × elapsed seconds (USD·s); the *longest unhedged* time is the longest stretch during
  which the level stayed above zero, in ms of the agent's clock; the *largest unhedged*
  notional is the highest level that lasted some time.

In a replay, paper fills are immediate and the clock does not move while a pair is sent, so a
pair's figures are 0 unless a leg left it unbalanced past the step. Live, a pair may stay
unbalanced across mark ticks and steps while an unwind was refused or an order's outcome is
unknown: that is what the budget (``naked_budget_usd_s``, :class:`agent.config.sections.
LegRiskConfig`) bounds, enforced by :mod:`agent.execution.budget`.

When a pair is balanced (``unhedged = 0``), its send finished and none of its orders is still
unresolved, it is journaled (``pair_exposure``: USD·s, longest unhedged ms, largest unhedged
USD, budget, past budget, outcome) and forgotten; :meth:`ExposureBook.close_all` journals the
pairs still tracked when a run ends, with outcome ``open`` (unbalanced) or ``unresolved``
(balanced as far as known, an order's outcome still unknown). Open pairs are not part of the resume
checkpoint: after a restart their unresolved orders are followed up as before, but their
exposure is no longer tracked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import structlog

from agent.config.sections import LegRiskConfig
from agent.execution.plan import PlannedLeg
from agent.journal.journal import Journal
from venues.model import Fill, Instrument, InstrumentId, OrderAck, OrderStatus

__all__ = ["DEFAULT_LEG_RISK", "ExposureBook", "ExposureLeg", "PairExposure", "PairKey"]

log = structlog.get_logger("zerobeta.execution")

ZERO = Decimal(0)
ONE = Decimal(1)
LOT_TOLERANCE = Decimal("1e-9")
"""Lots below this are rounding noise of ``filled / planned`` (``qty_at(whole_lot=True)``)."""
DEFAULT_LEG_RISK = LegRiskConfig()
"""A strategy without its own settings: simultaneous legs, the default budget."""

PairKey = tuple[str, str]
"""``(strategy, intent_id)``."""


@dataclass(slots=True)
class ExposureLeg:
    """One leg of a tracked pair.

    Attributes
    ----------
    index : int
        The leg's index within the intent (its client order ids' ``leg``).
    instrument : Instrument
    planned_qty : Decimal
        Signed base units the pair planned for this leg (never 0).
    filled_qty : Decimal
        Signed base units filled so far, unwinds included.
    price : float
        Latest price known for the leg, quote units (USD).
    refused : bool
        The venue refused the last order of this leg (a rejection).
    """

    index: int
    instrument: Instrument
    planned_qty: Decimal
    price: float
    filled_qty: Decimal = ZERO
    refused: bool = False

    @property
    def completion(self) -> Decimal:
        """``filled_qty / planned_qty`` (1 = the leg as planned, 0 = nothing held)."""
        return self.filled_qty / self.planned_qty

    def qty_at(self, frac: Decimal, *, whole_lot: bool = False) -> Decimal:
        """Signed base units that bring the leg to ``frac`` of its plan, rounded toward zero to
        the lot step (0 when less than a lot); ``whole_lot``: rounded away from zero instead,
        so the leg reaches ``frac`` (by less than a lot beyond it)."""
        step = self.instrument.lot_step
        delta = frac * self.planned_qty - self.filled_qty
        lots = abs(delta) / step
        if whole_lot:  # a completion's division leaves ~1e-28 where the leg is at ``frac``
            lots = lots.quantize(LOT_TOLERANCE).to_integral_value(rounding=ROUND_UP)
        else:
            lots = lots.to_integral_value(rounding=ROUND_DOWN)
        return lots * step if delta > 0 else -lots * step


@dataclass(slots=True)
class PairExposure:
    """One pair being tracked: its legs and its exposure figures so far.

    Attributes
    ----------
    strategy, intent_id : str
    leg_risk : LegRiskConfig
        The strategy's leg policy and naked budget.
    legs : dict[InstrumentId, ExposureLeg]
    ts_opened_ms : int
        When its legs went out, epoch ms (agent clock).
    sending : bool
        The executor is still sending its legs (no budget action meanwhile).
    send_status : str
        How the send ended (:class:`agent.execution.pairs.IntentOutcome` ``status``).
    unhedged_usd : float
        Current unhedged notional, USD.
    unhedged_usd_s : float
        Unhedged notional integrated over time so far, USD·s.
    max_unhedged_usd : float
        Largest unhedged notional held for some time (a level that lasted no time on the
        agent's clock, such as one leg booked an instant before the other, does not count),
        USD.
    longest_unhedged_ms : int
        Longest finished stretch with a non-zero unhedged notional, ms (see
        :meth:`longest_ms` for the one still running).
    past_budget : bool
        ``unhedged_usd_s`` went past the budget.
    forced : int
        Rounds of budget orders sent (their client order ids' ``attempt``).
    action : str | None
        ``completed`` or ``unwound``: what the last budget round did.
    closing : bool
        Every order of the pair shrinks its strategy's position (an exit): the budget only
        completes it, reduce-only — unwinding a close would reopen what it closed.
    alerted : bool
        A person was told the pair cannot be balanced (once).
    """

    strategy: str
    intent_id: str
    leg_risk: LegRiskConfig
    legs: dict[InstrumentId, ExposureLeg]
    ts_opened_ms: int
    sending: bool = True
    send_status: str = ""
    unhedged_usd: float = 0.0
    unhedged_usd_s: float = 0.0
    max_unhedged_usd: float = 0.0
    longest_unhedged_ms: int = 0
    past_budget: bool = False
    forced: int = 0
    action: str | None = None
    alerted: bool = False
    closing: bool = False
    last_ms: int = 0
    span_start_ms: int | None = None
    client_order_ids: set[str] = field(default_factory=set)

    @property
    def key(self) -> PairKey:
        """``(strategy, intent_id)``."""
        return (self.strategy, self.intent_id)

    @property
    def balanced_frac(self) -> Decimal:
        """The smallest leg completion, clamped to ``[0, 1]``: the part hedged in ratio."""
        return min(max(min(leg.completion for leg in self.legs.values()), ZERO), ONE)

    @property
    def leading_frac(self) -> Decimal:
        """The largest leg completion, clamped to ``[0, 1]``."""
        return min(max(max(leg.completion for leg in self.legs.values()), ZERO), ONE)

    @property
    def balanced(self) -> bool:
        """No leg is off the balanced fraction by a lot step or more."""
        return self.unhedged_usd == 0.0

    def level_usd(self) -> float:
        """Unhedged notional at the legs' latest prices, USD: ``Σ |f_i − c·q_i| × p_i`` over
        the legs off the balanced fraction ``c`` by a lot step or more."""
        frac = self.balanced_frac
        level = 0.0
        for leg in self.legs.values():
            excess = abs(leg.filled_qty - frac * leg.planned_qty)
            if excess >= leg.instrument.lot_step:
                level += float(excess) * leg.price
        return level

    def longest_ms(self, now_ms: int) -> int:
        """Longest unhedged stretch so far, the one running at ``now_ms`` included, ms."""
        running = 0 if self.span_start_ms is None else now_ms - self.span_start_ms
        return max(self.longest_unhedged_ms, running)

    def advance(self, now_ms: int) -> None:
        """Integrate the current level up to ``now_ms`` (the clock never goes back)."""
        if now_ms > self.last_ms:
            self.unhedged_usd_s += self.unhedged_usd * (now_ms - self.last_ms) / 1000.0
            self.max_unhedged_usd = max(self.max_unhedged_usd, self.unhedged_usd)
            self.last_ms = now_ms

    def relevel(self, now_ms: int) -> None:
        """Recompute the level at ``now_ms`` after a fill or new prices; open or close the
        unhedged stretch."""
        level = self.level_usd()
        self.unhedged_usd = level
        if level > 0 and self.span_start_ms is None:
            self.span_start_ms = now_ms
        elif level == 0 and self.span_start_ms is not None:
            self.longest_unhedged_ms = self.longest_ms(now_ms)
            self.span_start_ms = None


class ExposureBook:
    """Every pair being tracked, the totals over the pairs already journaled, and the
    journal rows.

    Parameters
    ----------
    journal : Journal
        Where each pair's row (``pair_exposure``) goes once it balanced or at the end.

    Attributes
    ----------
    unhedged_usd_s_total : float
        USD·s of every pair, journaled or still open (see :meth:`totals`).
    pairs_past_budget : int
        Pairs that went past their budget, journaled or still open.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._pairs: dict[PairKey, PairExposure] = {}
        self._by_order: dict[str, PairExposure] = {}
        self._closed_usd_s = 0.0
        self._closed_past_budget = 0

    def __len__(self) -> int:
        return len(self._pairs)

    def __iter__(self) -> Iterator[PairExposure]:
        return iter(list(self._pairs.values()))

    def get(self, strategy: str, intent_id: str) -> PairExposure | None:
        """The open pair of ``intent_id``, or None."""
        return self._pairs.get((strategy, intent_id))

    @property
    def unhedged_usd_s_total(self) -> float:
        """Unhedged USD·s of every pair tracked by this process, open ones so far."""
        return self._closed_usd_s + sum(p.unhedged_usd_s for p in self._pairs.values())

    @property
    def pairs_past_budget(self) -> int:
        """Pairs tracked by this process that went past their naked budget."""
        return self._closed_past_budget + sum(p.past_budget for p in self._pairs.values())

    # ---- what the executor and the desk report --------------------------------------------

    def open(
        self,
        strategy: str,
        intent_id: str,
        planned: Sequence[PlannedLeg],
        leg_risk: LegRiskConfig,
        ts_ms: int,
        closing: bool = False,
    ) -> PairExposure:
        """Start tracking the pair of ``planned`` (two or more legs) as its legs go out at
        ``ts_ms`` (``closing``: every leg shrinks the position). A pair still open under the
        same id is journaled first (``replaced``), and so is every open pair of the strategy
        sharing an instrument with it (``superseded``: the new intent's orders are planned from
        the positions it left)."""
        old = self._pairs.get((strategy, intent_id))
        if old is not None:
            self._finish(old, ts_ms, "replaced")
        # A new intent of the strategy on any of the same instruments re-plans them from the
        # strategy's positions now: what an older pair left unbalanced is folded into its
        # orders, so the older pair ends here (``superseded``).
        instruments = {p.instrument.id for p in planned}
        for other in [p for p in self._pairs.values() if p.strategy == strategy]:
            if other.intent_id != intent_id and instruments & set(other.legs):
                self._finish(other, ts_ms, "superseded")
        legs: dict[InstrumentId, ExposureLeg] = {}
        for p in planned:
            leg = legs.get(p.instrument.id)
            if leg is None:
                legs[p.instrument.id] = ExposureLeg(p.leg, p.instrument, p.delta_qty, p.price)
            else:  # the same instrument twice: one leg of the summed plan
                leg.planned_qty += p.delta_qty
        pair = PairExposure(
            strategy, intent_id, leg_risk, legs, ts_ms, closing=closing, last_ms=ts_ms
        )
        self._pairs[pair.key] = pair
        return pair

    def on_order(self, strategy: str, intent_id: str, client_order_id: str) -> None:
        """An order of ``intent_id`` is about to go out: its fills count for the pair."""
        pair = self._pairs.get((strategy, intent_id))
        if pair is not None:
            pair.client_order_ids.add(client_order_id)
            self._by_order[client_order_id] = pair

    def on_ack(self, client_order_id: str, ack: OrderAck, ts_ms: int) -> None:
        """A venue answer booked at ``ts_ms``: whether the venue refused the leg (its fills
        are counted one by one, :meth:`on_fill`, as the desk books each trade once)."""
        pair = self._by_order.get(client_order_id)
        if pair is None:
            return
        leg = pair.legs.get(ack.instrument_id)
        if leg is None:
            return
        pair.advance(ts_ms)
        leg.refused = ack.status is OrderStatus.REJECTED
        pair.relevel(ts_ms)

    def on_fill(self, fill: Fill, ts_ms: int) -> None:
        """A trade booked at ``ts_ms`` (from an answer, a lookup or the account stream, once):
        it moves its pair's leg."""
        pair = self._by_order.get(fill.client_order_id)
        if pair is None:
            return
        leg = pair.legs.get(fill.instrument_id)
        if leg is None:
            return
        pair.advance(ts_ms)
        leg.filled_qty += fill.side.sign * fill.qty
        leg.price = float(fill.price)
        pair.relevel(ts_ms)

    def on_rejected(self, client_order_id: str, instrument_id: InstrumentId) -> None:
        """The venue refused an order of a tracked pair."""
        pair = self._by_order.get(client_order_id)
        leg = None if pair is None else pair.legs.get(instrument_id)
        if leg is not None:
            leg.refused = True

    def sent(self, strategy: str, intent_id: str, status: str, ts_ms: int, pending: bool) -> None:
        """The executor is done sending the pair (``status`` of its outcome); it is journaled
        now when balanced with no order of it ``pending`` (unresolved), else kept open."""
        pair = self._pairs.get((strategy, intent_id))
        if pair is None:
            return
        pair.sending = False
        pair.send_status = status
        pair.advance(ts_ms)
        pair.relevel(ts_ms)
        if pair.balanced and not pending:
            self._finish(pair, ts_ms, status)

    # ---- checks ---------------------------------------------------------------------------

    def observe(self, now_ms: int, prices: Mapping[InstrumentId, float]) -> None:
        """Integrate every open pair up to ``now_ms``, then re-price it at ``prices`` (quote
        units; an instrument without one keeps its last price)."""
        for pair in self._pairs.values():
            pair.advance(now_ms)
            for iid, leg in pair.legs.items():
                price = prices.get(iid)
                if price is not None and price > 0:
                    leg.price = float(price)
            pair.relevel(now_ms)

    def over_budget(self) -> list[PairExposure]:
        """Pairs done sending, unbalanced, whose USD·s went past their budget (strictly)."""
        return [
            p
            for p in self._pairs.values()
            if not p.sending and not p.balanced and p.unhedged_usd_s > p.leg_risk.naked_budget_usd_s
        ]

    def settle(self, now_ms: int, pending: set[PairKey]) -> None:
        """Journal every pair done sending that is balanced with no order in ``pending``."""
        for pair in list(self._pairs.values()):
            if not pair.sending and pair.balanced and pair.key not in pending:
                self._finish(pair, now_ms, pair.action or pair.send_status)

    def close_all(self, ts_ms: int) -> None:
        """End of the run: journal every pair still tracked, outcome ``open`` (unbalanced) or
        ``unresolved`` (balanced as far as known, an order's outcome still unknown)."""
        for pair in list(self._pairs.values()):
            pair.advance(ts_ms)
            self._finish(pair, ts_ms, "unresolved" if pair.balanced else "open")

    def _finish(self, pair: PairExposure, ts_ms: int, outcome: str) -> None:
        longest = pair.longest_ms(ts_ms)
        self._journal.record_pair_exposure(
            ts_ms,
            pair.strategy,
            pair.intent_id,
            leg_policy=pair.leg_risk.leg_policy,
            legs=len(pair.legs),
            ts_opened_ms=pair.ts_opened_ms,
            unhedged_usd_s=pair.unhedged_usd_s,
            longest_unhedged_ms=longest,
            max_unhedged_usd=pair.max_unhedged_usd,
            naked_budget_usd_s=pair.leg_risk.naked_budget_usd_s,
            past_budget=pair.past_budget,
            outcome=outcome,
        )
        if pair.unhedged_usd_s > 0 or outcome == "open":
            log.info(
                "pair_exposure",
                strategy=pair.strategy,
                intent_id=pair.intent_id,
                unhedged_usd_s=round(pair.unhedged_usd_s, 3),
                longest_unhedged_ms=longest,
                max_unhedged_usd=round(pair.max_unhedged_usd, 2),
                past_budget=pair.past_budget,
                outcome=outcome,
            )
        self._closed_usd_s += pair.unhedged_usd_s
        self._closed_past_budget += int(pair.past_budget)
        del self._pairs[pair.key]
        for cid in pair.client_order_ids:
            self._by_order.pop(cid, None)
