"""Turn strategy intents into orders: drift threshold, rounding, risk, paired legs, leg risk.

For each :class:`~strategies.base.PairIntent` the executor

1. diffs every leg's target against the strategy's position in the ledger and keeps the legs
   that drift more than ``drift_frac`` of their target notional (a leg going flat always
   trades);
2. rounds each order toward zero to the lot step and drops what falls below the venue's
   minimum quantity or notional;
3. asks :class:`~agent.risk.RiskEngine` about the whole intent (both legs or neither);
4. sends the legs under the strategy's leg policy (``leg_policy``): concurrently
   (``simultaneous``), or the less liquid leg first and the others sized to what it filled
   (``sequential``), each with a deterministic client order id;
5. if a leg does not fill completely, retries what is left of it (new attempt id) when its
   outcome is known and was not a rejection (not placed, or an IOC that expired unfilled or
   part-filled); otherwise unwinds whatever every leg filled (reduce-only; ``sequential``:
   back to the least complete leg's fraction), so no unhedged leg is left; every step is
   journaled and logged;
6. tracks each pair's unhedged notional over time until it is balanced
   (:mod:`agent.execution.exposure`); at each check (:meth:`Executor.check_exposure`, every
   step and mark tick) a pair past its ``naked_budget_usd_s`` is completed or unwound with
   aggressive orders (:mod:`agent.execution.budget`).

A strategy with ``execution_style = "maker_first"`` sends its intents' orders post-only at the
touch instead (:mod:`agent.execution.maker`): they rest, are re-quoted at every step and mark
tick (:meth:`Executor.work_makers`) and go as taker after ``maker_deadline_s``.

The targets an intent reached stand until the strategy's next intent on them
(:mod:`agent.execution.standing`); live, between steps, a pair whose legs drifted from them
(a fill that arrived on the account stream) is rebalanced at once (:meth:`Executor.drifted`);
with ``drift_check = "ratio"`` also a pair whose legs' notional ratio prices moved more than
``drift_frac`` (checked at every step, sub-hour replay bar and live mark tick).

An order whose outcome is unknown (timeout, 5xx) is looked up by client order id before
anything else; it is never re-sent blindly. If the lookup cannot answer either, the leg is
not retried: the known fills are unwound and the intent ends ``partial``. The order is kept
as *unresolved* (:mod:`agent.execution.unresolved`) and :meth:`Executor.follow_up` looks it up
again at every step until its outcome is known, books what it filled and reverses it reduce-only.

Steps 1–2 (planning, client order ids) live in :mod:`agent.execution.plan`, steps 4–5 (paired
legs, retries, unwinds, native pair orders) in :mod:`agent.execution.pairs`, step 6 in
:mod:`agent.execution.exposure` and :mod:`agent.execution.budget`, single orders
(send, look up, keep unresolved, book) in the :class:`~agent.execution.desk.OrderDesk` the
executor owns; this module keeps the executor and its risk check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any

import structlog

from agent.config import ExecutionConfig
from agent.config.sections import LegRiskConfig
from agent.execution.budget import enforce_budgets
from agent.execution.desk import OrderDesk
from agent.execution.exposure import DEFAULT_LEG_RISK, ExposureBook
from agent.execution.maker import WORKING, MakerDesk
from agent.execution.pairs import IntentOutcome, native_pair_venue, send_pair
from agent.execution.plan import IntentPlanner, PlannedLeg, client_order_id, shrinks_position
from agent.execution.standing import DRIFT_REASON, StandingTargets, ratio_legs
from agent.execution.streamed import StreamBooking
from agent.execution.unresolved import UnresolvedOrders
from agent.journal.journal import Journal
from agent.notify import DISCARD, AlertSink
from agent.portfolio.ledger import Portfolio
from agent.risk import LegDelta, RiskEngine
from strategies.base import PairIntent
from venues.base import AccountEvent, Venue
from venues.model import (
    Instrument,
    InstrumentId,
    OrderRequest,
)

__all__ = ["Executor", "IntentOutcome", "PlannedLeg", "client_order_id"]

log = structlog.get_logger("zerobeta.execution")


class Executor:
    """Sends intents to venues and books fills in the ledger and the journal.

    Parameters
    ----------
    venues : Mapping[str, Venue]
        By venue name.
    instruments : Mapping[InstrumentId, Instrument]
    portfolio : Portfolio
    journal : Journal
    risk : RiskEngine
    config : ExecutionConfig
        ``drift_frac`` (fraction of target notional), ``drift_check`` (what drifts a
        standing pair: its positions, or also its legs' notional ratio), ``max_attempts``
        (attempts per leg, the first included), ``leg_timeout_s`` (s, per venue call).
    alerts : AlertSink
        Where the desk hands a failed unwind and a stuck unresolved order, for a person.
    leg_risk : Mapping[str, LegRiskConfig] | None
        Each strategy's ``leg_policy`` and ``naked_budget_usd_s`` by strategy name; a strategy
        not in it gets the defaults (simultaneous, :data:`~agent.config.sections.
        DEFAULT_NAKED_BUDGET_USD_S`).
    reference_instrument : InstrumentId | None
        The market reference (``[market_data] reference_instrument``): ranked most liquid
        when a sequential pair picks its first leg
        (:func:`agent.execution.pairs.less_liquid_first`).

    Attributes
    ----------
    between_intents : Callable[[], Awaitable[None]] | None
        Awaited before each intent is planned (None: nothing; a replay). A live run sets it
        to look up the unresolved orders whose follow-up timer fell due and enforce the naked
        budgets (:meth:`agent.engine.engine.Engine.work_between_intents`), so a step that sends
        many intents does not hold those (and the reverse of a late fill) until it ends.
    """

    def __init__(
        self,
        venues: Mapping[str, Venue],
        instruments: Mapping[InstrumentId, Instrument],
        portfolio: Portfolio,
        journal: Journal,
        risk: RiskEngine,
        config: ExecutionConfig,
        alerts: AlertSink = DISCARD,
        leg_risk: Mapping[str, LegRiskConfig] | None = None,
        reference_instrument: InstrumentId | None = None,
    ) -> None:
        self._portfolio = portfolio
        self._journal = journal
        self._risk = risk
        self._planner = IntentPlanner(instruments, portfolio, config.drift_frac)
        self._ratio_drift = config.drift_check == "ratio"
        self._leg_risk = dict(leg_risk or {})
        self._reference = reference_instrument
        self.desk = OrderDesk(venues, instruments, portfolio, journal, config)
        self.desk.alerts = alerts
        self.risk_rejections = 0
        self.standing = StandingTargets()
        self.maker = MakerDesk(self.desk, reference_instrument)
        self._decided: dict[str, dict[InstrumentId, float]] = {}
        self.between_intents: Callable[[], Awaitable[None]] | None = None
        self._in_between = False

    @property
    def orders_sent(self) -> int:
        """Orders sent so far (every attempt, unwinds and reverses included)."""
        return self.desk.orders_sent

    @property
    def orders_rejected(self) -> int:
        """Orders a venue refused so far."""
        return self.desk.orders_rejected

    @property
    def unresolved(self) -> UnresolvedOrders:
        """Orders whose outcome is still unknown."""
        return self.desk.unresolved

    @property
    def exposure(self) -> ExposureBook:
        """The pairs being sent or still unbalanced (:mod:`agent.execution.exposure`)."""
        return self.desk.exposure

    @property
    def unhedged_usd_s_total(self) -> float:
        """Unhedged notional integrated over time of every pair of this process, USD·s."""
        return self.desk.exposure.unhedged_usd_s_total

    @property
    def pairs_past_budget(self) -> int:
        """Pairs of this process that went past their naked budget."""
        return self.desk.exposure.pairs_past_budget

    @property
    def open_pairs(self) -> int:
        """Pairs not balanced yet, or with an order still unresolved."""
        return len(self.desk.exposure)

    def leg_risk(self, strategy: str) -> LegRiskConfig:
        """``strategy``'s leg policy and naked budget (the defaults when not configured)."""
        return self._leg_risk.get(strategy, DEFAULT_LEG_RISK)

    async def check_exposure(self, now_ms: int, prices: Mapping[InstrumentId, float]) -> None:
        """At ``now_ms`` (epoch ms, agent clock) with the latest ``prices`` (quote units):
        integrate every open pair's unhedged notional, complete or unwind those past their
        budget, journal those balanced; see :mod:`agent.execution.budget`. Cheap when no
        pair is open. Never raises ``VenueError``."""
        await enforce_budgets(self.desk, now_ms, prices)

    def close_exposure(self, ts_ms: int) -> None:
        """End of the run at ``ts_ms``: journal every pair still open (outcome ``open``)."""
        self.desk.exposure.close_all(ts_ms)

    async def follow_up(
        self,
        ts_ms: int,
        prices: Mapping[InstrumentId, float] | None = None,
        only: Collection[str] | None = None,
    ) -> None:
        """Look up every unresolved order (or those of ``only``, client order ids) again, book
        what it filled and reverse it reduce-only; see
        :meth:`agent.execution.desk.OrderDesk.follow_up`."""
        await self.desk.follow_up(ts_ms, prices, only=only)

    def book_streamed(self, events: Iterable[AccountEvent], ts_ms: int) -> StreamBooking:
        """Book account-stream events as they arrived (each trade once); see
        :meth:`agent.execution.desk.OrderDesk.book_streamed`."""
        return self.desk.book_streamed(events, ts_ms)

    # ---- planning (agent.execution.plan) -----------------------------------------------

    def plan(
        self, strategy: str, intent: PairIntent, prices: Mapping[InstrumentId, float]
    ) -> list[PlannedLeg]:
        """Orders needed for ``intent`` after the drift threshold, rounding and minimums
        (signed, on the lot step, in leg order; empty if nothing to do); see
        :meth:`agent.execution.plan.IntentPlanner.plan`.

        Raises
        ------
        ValueError
            If a leg's instrument is not loaded or its target is not finite.
        """
        return self._planner.plan(strategy, intent, prices)

    # ---- execution ---------------------------------------------------------------------

    async def work_makers(self, now_ms: int) -> None:
        """One pass over the working maker-first intents (:mod:`agent.execution.maker`):
        fills booked, re-quotes, past their deadline the rest as taker; the targets of those
        that ended stand (:attr:`standing`). Cheap when none works."""
        if not len(self.maker):
            return
        for strategy, intent, outcome in await self.maker.work(now_ms):
            self.standing.record(strategy, intent, outcome.status, self.maker_prices(intent))

    async def sync_makers(self, now_ms: int) -> None:
        """Book what the resting maker-first orders filled (before funding settles on the
        positions); see :meth:`agent.execution.maker.MakerDesk.sync`."""
        if len(self.maker):
            await self.maker.sync(now_ms)

    def restore_makers(
        self,
        rows: Iterable[Mapping[str, Any]],
        instruments: Mapping[InstrumentId, Instrument],
        journal: Journal,
    ) -> list[tuple[OrderRequest, int]]:
        """Re-adopt a resume checkpoint's working maker-first intents
        (:meth:`agent.execution.maker.MakerDesk.restore`, whose return this is), with the
        prices each was decided at (their targets stand at them once done).

        Raises
        ------
        KeyError, ValueError, TypeError
            As :meth:`~agent.execution.maker.MakerDesk.restore`.
        """
        adopted = self.maker.restore(rows, instruments, journal)
        self._decided.update(self.maker.decided_prices())
        return adopted

    def maker_prices(self, intent: PairIntent) -> Mapping[InstrumentId, float]:
        """The prices an intent was decided at (kept by the maker desk)."""
        return self._decided.pop(intent.intent_id, {})

    async def execute(
        self,
        strategy: str,
        intent: PairIntent,
        prices: Mapping[InstrumentId, float],
        ts_ms: int,
        urgent: bool = False,
    ) -> IntentOutcome:
        """Plan, risk-check and send one intent; returns what happened. Targets it reached
        stand until the strategy's next intent on them (:attr:`standing`).

        A strategy with ``execution_style = "maker_first"`` sends post-only orders
        (:mod:`agent.execution.maker`; outcome ``working`` until they are done), unless the
        intent is ``urgent`` (a flatten or risk reduction by the engine: always taker). A
        working maker-first intent of the strategy on one of the intent's instruments is
        finished first (the rest as taker), so the new plan starts from settled positions.

        Parameters
        ----------
        strategy : str
        intent : PairIntent
        prices : Mapping[InstrumentId, float]
            Latest prices, quote units (USD).
        ts_ms : int
            Agent clock time for the journal rows, epoch ms UTC.

        Returns
        -------
        IntentOutcome
            Never raises a ``VenueError``: venue failures end in ``unwound`` or ``partial``.
        """
        if self.between_intents is not None and not self._in_between:
            self._in_between = True
            try:
                await self.between_intents()
            finally:
                self._in_between = False
        if len(self.maker):
            named = {leg.instrument_id for leg in intent.legs}
            for owner, old, done in await self.maker.finish(strategy, named, ts_ms):
                self.standing.record(owner, old, done.status, self.maker_prices(old))
        outcome = await self._execute(strategy, intent, prices, ts_ms, urgent)
        if outcome.status == WORKING:
            self._decided[intent.intent_id] = dict(prices)
        else:
            self.standing.record(strategy, intent, outcome.status, prices)
        return outcome

    def drifted(
        self, prices: Mapping[InstrumentId, float], ts_ms: int
    ) -> list[tuple[str, PairIntent]]:
        """Between steps: for every standing pair (:class:`~agent.execution.standing.
        StandingTargets`) with a leg off its target by more than ``drift_frac`` (the pair's own
        when its intent carried one; the hourly
        rule, :meth:`plan`) and no unresolved order on its legs, the intent (owner strategy,
        ``drift_rebalance`` intent) that takes it back; execute each with :meth:`execute`.
        With ``drift_check = "ratio"`` the targets are first restated at ``prices`` to the
        notional ratio they were set at (:func:`~agent.execution.standing.ratio_legs`)."""
        busy = {order.request.instrument_id for order in self.unresolved}
        busy |= self.maker.busy_instruments()
        out: list[tuple[str, PairIntent]] = []
        for strategy, pair in self.standing.pairs():
            legs = ratio_legs(pair, prices) if self._ratio_drift else pair.legs
            probe = PairIntent(
                "drift-check", legs, DRIFT_REASON, opening=False, drift_frac=pair.drift_frac
            )
            if not self.plan(strategy, probe, prices):
                continue
            intent = self.standing.rebalance_intent(legs, busy, ts_ms, pair.drift_frac)
            if intent is not None:
                out.append((strategy, intent))
        return out

    def _shrinks_own(self, strategy: str, planned: Iterable[PlannedLeg]) -> bool:
        """Whether every planned order only shrinks ``strategy``'s own position toward flat."""
        own = self._portfolio.positions(strategy)
        return all(
            shrinks_position(own.get(p.instrument.id, Decimal(0)), p.delta_qty) for p in planned
        )

    async def _execute(
        self,
        strategy: str,
        intent: PairIntent,
        prices: Mapping[InstrumentId, float],
        ts_ms: int,
        urgent: bool,
    ) -> IntentOutcome:
        planned = self.plan(strategy, intent, prices)
        if not planned:
            return IntentOutcome(intent.intent_id, "skipped", 0)
        # Only an intent whose every order shrinks the strategy's own position toward flat is
        # a close; whatever the strategy flagged, anything else is checked as opening.
        closing = not intent.opening and self._shrinks_own(strategy, planned)
        # A halt refuses every opening intent whatever its legs: the same refusal check()
        # returns, without measuring the book's exposure (the halted replay plans and refuses
        # an intent per strategy and cycle).
        rejection = None if closing else self._risk.opening_blocked()
        if rejection is None:
            rejection = self._risk.check(
                [LegDelta(p.instrument.id, p.delta_qty, p.price) for p in planned],
                self._portfolio.positions(),
                prices,
                float(self._portfolio.equity_usd()),
                not closing,
            )
        self._journal.record_intent(ts_ms, strategy, intent)
        if rejection is not None:
            self.risk_rejections += 1
            self._journal.record_risk_event(
                ts_ms,
                rejection.rule,
                rejection.limit,
                rejection.value,
                strategy,
                intent.intent_id,
                rejection.detail,
            )
            log.warning(
                "risk_rejected",
                strategy=strategy,
                intent_id=intent.intent_id,
                rule=rejection.rule,
                limit=rejection.limit,
                value=rejection.value,
                detail=rejection.detail,
            )
            return IntentOutcome(intent.intent_id, "risk_rejected", 0, rejection.rule)
        leg_risk = self.leg_risk(strategy)
        maker = leg_risk.execution_style == "maker_first" and not urgent
        if maker and native_pair_venue(self.desk.venues, planned) is None:
            return await self.maker.start(
                strategy, intent, planned, prices, ts_ms, leg_risk, closing
            )
        return await send_pair(
            self.desk,
            strategy,
            intent.intent_id,
            planned,
            ts_ms,
            self.leg_risk(strategy),
            self._reference,
            closing,
        )
