"""Turn strategy intents into orders: drift threshold, rounding, risk, paired legs, leg risk.

For each :class:`~strategies.base.PairIntent` the executor

1. diffs every leg's target against the strategy's position in the ledger and keeps the legs
   that drift more than ``drift_frac`` of their target notional (a leg going flat always
   trades);
2. rounds each order toward zero to the lot step and drops what falls below the venue's
   minimum quantity or notional;
3. asks :class:`~agent.risk.RiskEngine` about the whole intent (both legs or neither);
4. sends the legs concurrently, each with a deterministic client order id;
5. if a leg fails, retries it (new attempt id) when the failure was transient, otherwise
   unwinds the legs that filled, so no unhedged leg is left; every step is journaled and logged.

An order whose outcome is unknown (timeout, 5xx) is looked up by client order id before
anything else; it is never re-sent blindly.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import structlog

from agent.config import ExecutionConfig
from agent.journal import Journal
from agent.portfolio import Portfolio
from agent.risk import LegDelta, RiskEngine
from strategies.base import PairIntent
from venues.base import Venue
from venues.errors import OrderNotFound, OrderRejected, VenueError
from venues.model import Instrument, InstrumentId, OrderAck, OrderRequest, OrderStatus, Side

log = structlog.get_logger("zerobeta.execution")


def client_order_id(strategy: str, intent_id: str, leg: str, attempt: int) -> str:
    """Deterministic client order id: 32 lowercase hex characters (128 bits).

    Valid on every venue's id rules (../shared/venues/README.md): Binance
    ``^[.A-Z:/a-z0-9_-]{1,36}$``, Bybit ``orderLinkId`` ≤ 36 ``[A-Za-z0-9_-]``, OKX ``clOrdId``
    ≤ 32 alphanumerics, Hyperliquid ``cloid`` = ``0x`` + 32 hex (the adapter adds ``0x``).
    The journal maps it back to (strategy, intent, leg, attempt).
    """
    digest = hashlib.sha256(f"{strategy}|{intent_id}|{leg}|{attempt}".encode()).hexdigest()
    return digest[:32]


@dataclass(frozen=True, slots=True)
class PlannedLeg:
    """One order to send: leg index within the intent, signed qty (base units), price seen."""

    leg: int
    instrument: Instrument
    delta_qty: Decimal
    price: float


@dataclass(frozen=True, slots=True)
class IntentOutcome:
    """What happened to one intent: ``status`` is ``skipped`` (nothing to do), ``risk_rejected``,
    ``filled``, ``unwound`` or ``partial`` (a leg could neither complete nor unwind)."""

    intent_id: str
    status: str
    orders_sent: int
    detail: str = ""


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
        ``drift_frac`` (fraction of target notional), ``max_attempts``, ``leg_timeout_s`` (s).
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
        self._drift = Decimal(repr(config.drift_frac))
        self.orders_sent = 0
        self.orders_rejected = 0
        self.risk_rejections = 0

    def plan(
        self, strategy: str, intent: PairIntent, prices: Mapping[InstrumentId, float]
    ) -> list[PlannedLeg]:
        """Orders needed for ``intent`` after the drift threshold, rounding and minimums."""
        held = self._portfolio.positions(strategy)
        planned: list[PlannedLeg] = []
        for index, leg in enumerate(intent.legs):
            instrument = self._instruments[leg.instrument_id]
            price = prices.get(leg.instrument_id)
            if price is None or price <= 0:
                continue
            current = held.get(leg.instrument_id, Decimal(0))
            delta = self._order_qty(instrument, current, Decimal(repr(leg.target_qty)), price)
            if delta:
                planned.append(PlannedLeg(index, instrument, delta, price))
        return planned

    def _order_qty(
        self, instrument: Instrument, current: Decimal, target: Decimal, price: float
    ) -> Decimal:
        """Signed order qty on the lot step, or 0 when within drift or below the minimums."""
        if target == 0:
            return -current
        delta = target - current
        if abs(delta) <= self._drift * abs(target):
            return Decimal(0)
        step = instrument.lot_step
        rounded = (abs(delta) / step).to_integral_value(rounding=ROUND_DOWN) * step
        notional = rounded * Decimal(repr(price))
        if rounded < instrument.min_qty or notional < instrument.min_notional_usd:
            return Decimal(0)
        return rounded if delta > 0 else -rounded

    async def execute(
        self,
        strategy: str,
        intent: PairIntent,
        prices: Mapping[InstrumentId, float],
        ts_ms: int,
    ) -> IntentOutcome:
        """Plan, risk-check and send one intent; returns what happened."""
        planned = self.plan(strategy, intent, prices)
        if not planned:
            return IntentOutcome(intent.intent_id, "skipped", 0)
        rejection = self._risk.check(
            [LegDelta(p.instrument.id, p.delta_qty, p.price) for p in planned],
            self._portfolio.positions(),
            prices,
            float(self._portfolio.equity_usd()),
            intent.opening,
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
        return await self._send_pair(strategy, intent, planned, ts_ms)

    async def _send_pair(
        self, strategy: str, intent: PairIntent, planned: Sequence[PlannedLeg], ts_ms: int
    ) -> IntentOutcome:
        results = await asyncio.gather(
            *(self._send_leg(strategy, intent.intent_id, str(p.leg), p, 0, ts_ms) for p in planned)
        )
        failed = [p for p, ack in zip(planned, results, strict=True) if not _filled(ack)]
        sent = len(planned)
        if not failed:
            return IntentOutcome(intent.intent_id, "filled", sent)
        done = [(p, ack) for p, ack in zip(planned, results, strict=True) if _filled(ack)]
        log.warning(
            "pair_leg_failed",
            strategy=strategy,
            intent_id=intent.intent_id,
            failed_legs=[str(p.instrument.id) for p in failed],
            filled_legs=len(done),
        )
        completed, extra = await self._complete(strategy, intent.intent_id, failed, results, ts_ms)
        sent += extra
        if completed:
            return IntentOutcome(intent.intent_id, "filled", sent, "completed_on_retry")
        unwound, extra = await self._unwind(strategy, intent.intent_id, done, ts_ms)
        sent += extra
        status = "unwound" if unwound else "partial"
        log.warning(
            "pair_unwound" if unwound else "pair_unwind_failed",
            strategy=strategy,
            intent_id=intent.intent_id,
            legs=len(done),
        )
        return IntentOutcome(intent.intent_id, status, sent, "leg_failed")

    async def _complete(
        self,
        strategy: str,
        intent_id: str,
        failed: Sequence[PlannedLeg],
        first: Sequence[OrderAck | VenueError],
        ts_ms: int,
    ) -> tuple[bool, int]:
        """Retry failed legs whose error was not a rejection, up to ``max_attempts``."""
        if any(isinstance(r, OrderRejected) for r in first):
            return False, 0
        sent = 0
        for leg in failed:
            ok = False
            for attempt in range(1, self._cfg.max_attempts):
                sent += 1
                ack = await self._send_leg(strategy, intent_id, str(leg.leg), leg, attempt, ts_ms)
                if _filled(ack):
                    ok = True
                    break
                if isinstance(ack, OrderRejected):
                    break
            if not ok:
                return False, sent
        return True, sent

    async def _unwind(
        self,
        strategy: str,
        intent_id: str,
        done: Sequence[tuple[PlannedLeg, OrderAck | VenueError]],
        ts_ms: int,
    ) -> tuple[bool, int]:
        """Reverse the filled quantity of every leg that filled (reduce-only market orders)."""
        sent = 0
        ok = True
        for leg, ack in done:
            assert isinstance(ack, OrderAck)
            qty = ack.filled_qty if ack.side is Side.BUY else -ack.filled_qty
            reverse = PlannedLeg(leg.leg, leg.instrument, -qty, leg.price)
            sent += 1
            result = await self._send_leg(
                strategy, intent_id, f"{leg.leg}u", reverse, 0, ts_ms, True
            )
            ok = ok and _filled(result)
        return ok, sent

    async def _send_leg(
        self,
        strategy: str,
        intent_id: str,
        leg: str,
        planned: PlannedLeg,
        attempt: int,
        ts_ms: int,
        reduce_only: bool = False,
    ) -> OrderAck | VenueError:
        """Send one order; resolve an unknown outcome by lookup; book fills. Never raises
        ``VenueError`` (returned instead)."""
        side = Side.BUY if planned.delta_qty > 0 else Side.SELL
        request = OrderRequest(
            client_order_id=client_order_id(strategy, intent_id, leg, attempt),
            instrument_id=planned.instrument.id,
            side=side,
            qty=abs(planned.delta_qty),
            reduce_only=reduce_only,
            reference_price=Decimal(repr(planned.price)),
        )
        self._journal.record_order_request(ts_ms, strategy, intent_id, leg, attempt, request)
        self.orders_sent += 1
        venue = self._venues[planned.instrument.id.venue]
        try:
            async with asyncio.timeout(self._cfg.leg_timeout_s):
                ack = await venue.place_order(request)
        except OrderRejected as err:
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
            return err
        except (VenueError, TimeoutError) as err:
            resolved = await self._lookup(venue, request, err)
            if isinstance(resolved, VenueError):
                return resolved
            ack = resolved
        self._book(strategy, request, ack, ts_ms)
        return ack

    async def _lookup(
        self, venue: Venue, request: OrderRequest, cause: Exception
    ) -> OrderAck | VenueError:
        """An order's outcome is unknown: look it up by client order id, never re-send."""
        log.warning(
            "order_outcome_unknown",
            client_order_id=request.client_order_id,
            instrument=str(request.instrument_id),
            error=type(cause).__name__,
        )
        try:
            async with asyncio.timeout(self._cfg.leg_timeout_s):
                return await venue.fetch_order(request.instrument_id, request.client_order_id)
        except OrderNotFound as err:
            return err
        except (VenueError, TimeoutError) as err:
            return (
                err
                if isinstance(err, VenueError)
                else OrderNotFound("lookup timed out", venue=venue.name)
            )

    def _book(self, strategy: str, request: OrderRequest, ack: OrderAck, ts_ms: int) -> None:
        self._journal.record_order_ack(ts_ms, ack)
        for fill in ack.fills:
            self._portfolio.apply_fill(strategy, fill, request.instrument_id.kind)
            self._journal.record_fill(ts_ms, strategy, fill)
        if ack.status is OrderStatus.REJECTED:
            self.orders_rejected += 1


def _filled(result: OrderAck | VenueError) -> bool:
    return isinstance(result, OrderAck) and result.status is OrderStatus.FILLED
