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

An order whose outcome is unknown (timeout, 5xx) is looked up by client order id before
anything else; it is never re-sent blindly. If the lookup cannot answer either, the leg is
not retried: the known fills are unwound and the intent ends ``partial``. The order is kept
as *unresolved* (:mod:`agent.execution.unresolved`) and :meth:`Executor.follow_up` looks it up
again at
every step until its outcome is known, books what it filled and reverses it reduce-only.

Steps 1–2 (planning, client order ids) live in :mod:`agent.execution.plan`, steps 4–5 (paired
legs, retries, unwinds, native pair orders) in :mod:`agent.execution.pairs`; this module keeps
the executor, its risk check and its single-order steps (send, look up, keep unresolved, book).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal

import structlog

from agent.config import ExecutionConfig
from agent.execution.pairs import IntentOutcome, send_pair
from agent.execution.plan import (
    IntentPlanner,
    PlannedLeg,
    _shrinks,
    client_order_id,
    order_request,
)
from agent.execution.unresolved import (
    LegResult,
    UnresolvedOrder,
    UnresolvedOrders,
    follow_up,
)
from agent.journal.journal import Journal
from agent.portfolio.ledger import Portfolio
from agent.risk import LegDelta, RiskEngine
from strategies.base import PairIntent
from venues.base import Venue
from venues.errors import OrderNotFound, OrderRejected, RequestTimeout, VenueError
from venues.model import (
    Instrument,
    InstrumentId,
    OrderAck,
    OrderRequest,
    OrderStatus,
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
    """

    def __init__(
        self,
        venues: Mapping[str, Venue],
        instruments: Mapping[InstrumentId, Instrument],
        portfolio: Portfolio,
        journal: Journal,
        risk: RiskEngine,
        config: ExecutionConfig,
    ) -> None:
        self._venues = venues
        self._instruments = instruments
        self._portfolio = portfolio
        self._journal = journal
        self._risk = risk
        self._cfg = config
        self._planner = IntentPlanner(instruments, portfolio, config.drift_frac)
        self.orders_sent = 0
        self.orders_rejected = 0
        self.risk_rejections = 0
        self.unresolved = UnresolvedOrders()

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
        """Plan, risk-check and send one intent; returns what happened.

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
        planned = self.plan(strategy, intent, prices)
        if not planned:
            return IntentOutcome(intent.intent_id, "skipped", 0)
        own = self._portfolio.positions(strategy)
        # Only an intent whose every order shrinks the strategy's own position toward flat is
        # a close; whatever the strategy flagged, anything else is checked as opening.
        closing = not intent.opening and all(
            _shrinks(own.get(p.instrument.id, Decimal(0)), p.delta_qty) for p in planned
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
        return await send_pair(self, strategy, intent.intent_id, planned, ts_ms)

    async def send_leg(
        self,
        strategy: str,
        intent_id: str,
        leg: str,
        planned: PlannedLeg,
        attempt: int,
        ts_ms: int,
        reduce_only: bool = False,
    ) -> LegResult:
        """Send one order; resolve an unknown outcome by lookup; book fills. Never raises
        ``VenueError`` (returned instead)."""
        request = order_request(strategy, intent_id, leg, planned, attempt, reduce_only)
        self._journal.record_order_request(ts_ms, strategy, intent_id, leg, attempt, request)
        self.orders_sent += 1
        venue = self._venues[planned.instrument.id.venue]
        try:
            async with asyncio.timeout(self._cfg.leg_timeout_s):
                ack = await venue.place_order(request)
        except OrderRejected as err:
            self.record_rejection(strategy, request, err, ts_ms)
            return err
        except (VenueError, TimeoutError) as err:
            resolved = await self._lookup(venue, request, err)
            if isinstance(resolved, VenueError):
                if not isinstance(resolved, OrderNotFound):  # may still have filled
                    self.keep_unresolved(strategy, intent_id, leg, request, None, ts_ms)
                return resolved
            ack = resolved
        self.book(strategy, request, ack, ts_ms)
        if not ack.status.is_final:  # still working after an IOC should have ended
            self.keep_unresolved(strategy, intent_id, leg, request, ack, ts_ms)
        return ack

    def keep_unresolved(
        self,
        strategy: str,
        intent_id: str,
        leg: str,
        request: OrderRequest,
        ack: OrderAck | None,
        ts_ms: int,
        pair_client_id: str | None = None,
    ) -> None:
        """Keep an order whose outcome is unknown (``ack`` None, or its fills so far booked)
        for :meth:`follow_up`; ``pair_client_id`` for a leg of a native pair order."""
        fills = ack.fills if ack is not None else ()
        self.unresolved.add(
            UnresolvedOrder(
                strategy=strategy,
                intent_id=intent_id,
                leg=leg,
                request=request,
                booked_trade_ids=frozenset(f.trade_id for f in fills),
                booked_qty=sum((f.side.sign * f.qty for f in fills), Decimal(0)),
                since_ms=ts_ms,
                pair_client_id=pair_client_id,
            )
        )
        log.warning(
            "order_unresolved",
            strategy=strategy,
            intent_id=intent_id,
            client_order_id=request.client_order_id,
            instrument=str(request.instrument_id),
            reduce_only=request.reduce_only,
        )

    # ---- following up unresolved orders (agent.execution.unresolved) ---------------------

    async def follow_up(
        self, ts_ms: int, prices: Mapping[InstrumentId, float] | None = None
    ) -> None:
        """Look up every unresolved order again, book what it filled and reverse it
        reduce-only; see :func:`agent.execution.unresolved.follow_up`."""
        await follow_up(self, ts_ms, prices)

    @property
    def journal(self) -> Journal:
        """Where orders, fills and rejections are journaled."""
        return self._journal

    @property
    def venues(self) -> Mapping[str, Venue]:
        """The venues orders go to, by name."""
        return self._venues

    @property
    def leg_timeout_s(self) -> float:
        """Deadline of one venue call, s."""
        return self._cfg.leg_timeout_s

    @property
    def max_attempts(self) -> int:
        """Attempts per leg, the first included."""
        return self._cfg.max_attempts

    async def send_reduce_only(
        self, order: UnresolvedOrder, qty: Decimal, price: float, ts_ms: int
    ) -> LegResult:
        """Send ``qty`` (signed base units) of ``order``'s instrument reduce-only as leg
        ``<leg>f``, attempt ``order.reverse_attempt``; booked like any leg. Never raises
        ``VenueError`` (returned instead)."""
        instrument = self._instruments[order.request.instrument_id]
        planned = PlannedLeg(0, instrument, qty, price)  # 0: the leg index is not used here
        return await self.send_leg(
            order.strategy,
            order.intent_id,
            f"{order.leg}f",
            planned,
            order.reverse_attempt,
            ts_ms,
            reduce_only=True,
        )

    def record_rejection(
        self, strategy: str, request: OrderRequest, err: OrderRejected, ts_ms: int
    ) -> None:
        """Count, journal and log an order the venue refused."""
        self.orders_rejected += 1
        self._journal.record_order_rejected(ts_ms, request, err.code, err.reason)
        log.warning(
            "order_rejected",
            strategy=strategy,
            client_order_id=request.client_order_id,
            instrument=str(request.instrument_id),
            code=err.code,
            reason=err.reason,
        )

    async def _lookup(self, venue: Venue, request: OrderRequest, cause: Exception) -> LegResult:
        """An order's outcome is unknown: look it up by client order id, never re-send.

        Returns the venue's answer, ``OrderNotFound`` (known not placed), or another
        ``VenueError`` (the lookup failed too: the outcome stays unknown).
        """
        log.warning(
            "order_outcome_unknown",
            client_order_id=request.client_order_id,
            instrument=str(request.instrument_id),
            error=type(cause).__name__,
        )
        try:
            async with asyncio.timeout(self._cfg.leg_timeout_s):
                return await venue.fetch_order(request.instrument_id, request.client_order_id)
        except VenueError as err:
            return err
        except TimeoutError:
            return RequestTimeout(
                f"lookup of {request.client_order_id} timed out after {self._cfg.leg_timeout_s} s",
                venue=venue.name,
            )

    def book(self, strategy: str, request: OrderRequest, ack: OrderAck, ts_ms: int) -> None:
        """Journal ``ack`` and book its fills in the ledger and the journal."""
        self._journal.record_order_ack(ts_ms, ack)
        for fill in ack.fills:
            self._portfolio.apply_fill(strategy, fill, request.instrument_id.kind)
            self._journal.record_fill(ts_ms, strategy, fill)
        if ack.status is OrderStatus.REJECTED:
            self.orders_rejected += 1
