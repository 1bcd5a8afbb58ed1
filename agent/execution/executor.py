"""Turn strategy intents into orders: drift threshold, rounding, risk, paired legs, leg risk.

For each :class:`~strategies.base.PairIntent` the executor

1. diffs every leg's target against the strategy's position in the ledger and keeps the legs
   that drift more than ``drift_frac`` of their target notional (a leg going flat always
   trades);
2. rounds each order toward zero to the lot step and drops what falls below the venue's
   minimum quantity or notional;
3. asks :class:`~agent.risk.RiskEngine` about the whole intent (both legs or neither);
4. sends the legs concurrently, each with a deterministic client order id;
5. if a leg does not fill completely, retries what is left of it (new attempt id) when its
   outcome is known and was not a rejection (not placed, or an IOC that expired unfilled or
   part-filled); otherwise unwinds whatever every leg filled (reduce-only), so no unhedged
   leg is left; every step is journaled and logged.

The targets an intent reached stand until the strategy's next intent on them
(:mod:`agent.execution.standing`); live, between steps, a pair whose legs drifted from them
(a fill that arrived on the account stream) is rebalanced at once (:meth:`Executor.drifted`).

An order whose outcome is unknown (timeout, 5xx) is looked up by client order id before
anything else; it is never re-sent blindly. If the lookup cannot answer either, the leg is
not retried: the known fills are unwound and the intent ends ``partial``. The order is kept
as *unresolved* (:mod:`agent.execution.unresolved`) and :meth:`Executor.follow_up` looks it up
again at every step until its outcome is known, books what it filled and reverses it reduce-only.

Steps 1–2 (planning, client order ids) live in :mod:`agent.execution.plan`, steps 4–5 (paired
legs, retries, unwinds, native pair orders) in :mod:`agent.execution.pairs`, single orders
(send, look up, keep unresolved, book) in the :class:`~agent.execution.desk.OrderDesk` the
executor owns; this module keeps the executor and its risk check.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal

import structlog

from agent.config import ExecutionConfig
from agent.execution.desk import OrderDesk
from agent.execution.pairs import IntentOutcome, send_pair
from agent.execution.plan import IntentPlanner, PlannedLeg, client_order_id, shrinks_position
from agent.execution.standing import DRIFT_REASON, StandingTargets
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
        ``drift_frac`` (fraction of target notional), ``max_attempts`` (attempts per leg,
        the first included), ``leg_timeout_s`` (s, per venue call).
    alerts : AlertSink
        Where the desk hands a failed unwind and a stuck unresolved order, for a person.
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
    ) -> None:
        self._portfolio = portfolio
        self._journal = journal
        self._risk = risk
        self._planner = IntentPlanner(instruments, portfolio, config.drift_frac)
        self.desk = OrderDesk(venues, instruments, portfolio, journal, config)
        self.desk.alerts = alerts
        self.risk_rejections = 0
        self.standing = StandingTargets()

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

    async def follow_up(
        self,
        ts_ms: int,
        prices: Mapping[InstrumentId, float] | None = None,
        only: Collection[str] | None = None,
    ) -> None:
        """Look up every unresolved order (or those of ``only``, client order ids) again, book
        what it filled and reverse it reduce-only; see
        :meth:`agent.execution.desk.OrderDesk.follow_up`."""
        await self.desk.follow_up(ts_ms, prices, only)

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

    async def execute(
        self,
        strategy: str,
        intent: PairIntent,
        prices: Mapping[InstrumentId, float],
        ts_ms: int,
    ) -> IntentOutcome:
        """Plan, risk-check and send one intent; returns what happened. Targets it reached
        stand until the strategy's next intent on them (:attr:`standing`).

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
        outcome = await self._execute(strategy, intent, prices, ts_ms)
        self.standing.record(strategy, intent, outcome.status, prices)
        return outcome

    def drifted(
        self, prices: Mapping[InstrumentId, float], ts_ms: int
    ) -> list[tuple[str, PairIntent]]:
        """Between steps: for every standing pair (:class:`~agent.execution.standing.
        StandingTargets`) with a leg off its target by more than ``drift_frac`` (the hourly
        rule, :meth:`plan`) and no unresolved order on its legs, the intent (owner strategy,
        ``drift_rebalance`` intent) that takes it back; execute each with :meth:`execute`."""
        busy = {order.request.instrument_id for order in self.unresolved}
        out: list[tuple[str, PairIntent]] = []
        for strategy, legs in self.standing.pairs():
            probe = PairIntent("drift-check", legs, DRIFT_REASON, opening=False)
            if not self.plan(strategy, probe, prices):
                continue
            intent = self.standing.rebalance_intent(legs, busy, ts_ms)
            if intent is not None:
                out.append((strategy, intent))
        return out

    async def _execute(
        self,
        strategy: str,
        intent: PairIntent,
        prices: Mapping[InstrumentId, float],
        ts_ms: int,
    ) -> IntentOutcome:
        planned = self.plan(strategy, intent, prices)
        if not planned:
            return IntentOutcome(intent.intent_id, "skipped", 0)
        own = self._portfolio.positions(strategy)
        # Only an intent whose every order shrinks the strategy's own position toward flat is
        # a close; whatever the strategy flagged, anything else is checked as opening.
        closing = not intent.opening and all(
            shrinks_position(own.get(p.instrument.id, Decimal(0)), p.delta_qty) for p in planned
        )
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
        return await send_pair(self.desk, strategy, intent.intent_id, planned, ts_ms)
