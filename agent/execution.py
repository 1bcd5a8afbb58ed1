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
as *unresolved* (:mod:`agent.unresolved`) and :meth:`Executor.follow_up` looks it up again at
every step until its outcome is known, books what it filled and reverses it reduce-only.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

import structlog

from agent.config import ExecutionConfig
from agent.journal import Journal
from agent.portfolio import Portfolio
from agent.risk import LegDelta, RiskEngine
from agent.unresolved import (
    LegResult,
    UnresolvedOrder,
    UnresolvedOrders,
    follow_up,
    outcome_unknown,
    retryable,
)
from strategies.base import PairIntent, TargetPosition
from venues.base import Venue
from venues.errors import OrderNotFound, OrderRejected, RequestTimeout, VenueError
from venues.model import (
    Instrument,
    InstrumentId,
    OrderAck,
    OrderRequest,
    OrderStatus,
    Side,
)
from venues.pairs import PairOrderVenue

log = structlog.get_logger("zerobeta.execution")


def client_order_id(strategy: str, intent_id: str, leg: str, attempt: int) -> str:
    """Deterministic client order id: 32 lowercase hex characters (128 bits).

    The first 32 hex digits of SHA-256 over the JSON array ``[strategy, intent_id, leg,
    attempt]`` (JSON keeps the field boundaries, so ``("a|b", "c")`` and ``("a", "b|c")``
    differ). Valid on every venue's documented id rules (checked in test_execution): Binance USD-M
    ``^[.A-Z:/a-z0-9_-]{1,36}$``, Binance spot ``^[a-zA-Z0-9-_]{1,36}$``, Bybit
    ``orderLinkId`` ≤ 36 ``[A-Za-z0-9_-]``, OKX ``clOrdId`` ≤ 32 alphanumerics, Hyperliquid
    ``cloid`` = ``0x`` + 32 hex (the adapter adds ``0x``). The journal maps it back to
    (strategy, intent, leg, attempt).

    Raises
    ------
    ValueError
        If ``attempt`` is negative.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    key = json.dumps([strategy, intent_id, leg, attempt], ensure_ascii=True)
    return hashlib.sha256(key.encode("ascii")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class PlannedLeg:
    """One order to send: leg index within the intent, signed qty (base units), price seen
    (quote units)."""

    leg: int
    instrument: Instrument
    delta_qty: Decimal
    price: float


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
        self._drift = _dec(config.drift_frac)
        self.orders_sent = 0
        self.orders_rejected = 0
        self.risk_rejections = 0
        self.unresolved = UnresolvedOrders()

    # ---- planning ----------------------------------------------------------------------

    def plan(
        self, strategy: str, intent: PairIntent, prices: Mapping[InstrumentId, float]
    ) -> list[PlannedLeg]:
        """Orders needed for ``intent`` after the drift threshold, rounding and minimums.

        A leg trades when it is off target by more than ``drift_frac`` × |target| (a zero
        target closes the whole position); its order is rounded toward zero to the lot step
        and dropped below the minimum qty or notional (a close is sent whole). If a leg that
        must trade has no finite positive price, the whole intent is skipped (both legs or
        neither).

        Parameters
        ----------
        strategy : str
            Whose positions the targets are diffed against.
        intent : PairIntent
            Targets, signed base units.
        prices : Mapping[InstrumentId, float]
            Latest prices, quote units (USD).

        Returns
        -------
        list[PlannedLeg]
            Signed order quantities on the lot step, in leg order; empty if nothing to do.

        Raises
        ------
        ValueError
            If a leg's instrument is not loaded or its target is not finite.
        """
        held = self._portfolio.positions(strategy)
        planned: list[PlannedLeg] = []
        for index, leg in enumerate(intent.legs):
            instrument, target = self._checked_leg(intent, leg)
            current = held.get(leg.instrument_id, Decimal(0))
            if not self._off_target(current, target):
                continue
            price = prices.get(leg.instrument_id)
            if price is None or not math.isfinite(price) or price <= 0:
                log.warning(
                    "intent_skipped_no_price",
                    strategy=strategy,
                    intent_id=intent.intent_id,
                    instrument=str(leg.instrument_id),
                    price=price,
                )
                return []
            delta = self._order_qty(instrument, current, target, float(price))
            if delta:
                planned.append(PlannedLeg(index, instrument, delta, float(price)))
        return planned

    def _checked_leg(self, intent: PairIntent, leg: TargetPosition) -> tuple[Instrument, Decimal]:
        instrument = self._instruments.get(leg.instrument_id)
        if instrument is None:
            raise ValueError(
                f"intent {intent.intent_id}: instrument {leg.instrument_id} is not loaded"
            )
        if not math.isfinite(leg.target_qty):
            raise ValueError(
                f"intent {intent.intent_id}: target_qty of {leg.instrument_id} is "
                f"{leg.target_qty!r}, not a finite number"
            )
        return instrument, _dec(leg.target_qty)

    def _off_target(self, current: Decimal, target: Decimal) -> bool:
        """Whether a leg drifted by more than ``drift_frac`` of its target (or must close)."""
        if target == 0:
            return current != 0
        return abs(target - current) > self._drift * abs(target)

    def _order_qty(
        self, instrument: Instrument, current: Decimal, target: Decimal, price: float
    ) -> Decimal:
        """Signed order qty on the lot step, or 0 when below the minimums (closes go whole)."""
        if target == 0:
            return -current
        delta = target - current
        step = instrument.lot_step
        rounded = (abs(delta) / step).to_integral_value(rounding=ROUND_DOWN) * step
        notional = rounded * _dec(price)
        if rounded < instrument.min_qty or notional < instrument.min_notional_usd:
            return Decimal(0)
        return rounded if delta > 0 else -rounded

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
        return await self._send_pair(strategy, intent.intent_id, planned, ts_ms)

    async def _send_pair(
        self, strategy: str, intent_id: str, planned: Sequence[PlannedLeg], ts_ms: int
    ) -> IntentOutcome:
        """Send every leg; retry the incomplete ones while retrying is safe; else unwind.
        Two opposite legs on a venue with native pair orders go as one atomic order."""
        native = _native_pair_venue(self._venues, planned)
        if native is not None:
            return await self._send_native_pair(strategy, intent_id, planned, native, ts_ms)
        legs = [_LegRun(p) for p in planned]
        sent = await self._send_round(strategy, intent_id, legs, 0, ts_ms)
        for attempt in range(1, self._cfg.max_attempts):
            incomplete = [leg for leg in legs if not leg.complete]
            if not incomplete or not all(retryable(leg.result) for leg in incomplete):
                break
            sent += await self._send_round(strategy, intent_id, incomplete, attempt, ts_ms)
        if all(leg.complete for leg in legs):
            detail = "" if sent == len(legs) else "completed_on_retry"
            return IntentOutcome(intent_id, "filled", sent, detail)
        return await self._abandon(strategy, intent_id, legs, sent, ts_ms)

    async def _send_round(
        self, strategy: str, intent_id: str, legs: Sequence[_LegRun], attempt: int, ts_ms: int
    ) -> int:
        """Send what is left of each leg concurrently as ``attempt``; returns orders sent."""
        results = await asyncio.gather(
            *(
                self._send_leg(
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
        self, strategy: str, intent_id: str, legs: Sequence[_LegRun], sent: int, ts_ms: int
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
        unwound, extra = await self._unwind(strategy, intent_id, legs, ts_ms)
        ok = unwound and not unknown
        log.warning(
            "pair_unwound" if ok else "pair_unwind_failed",
            strategy=strategy,
            intent_id=intent_id,
            legs=len(legs),
        )
        detail = "leg_outcome_unknown" if unknown else "leg_failed"
        return IntentOutcome(intent_id, "unwound" if ok else "partial", sent + extra, detail)

    async def _unwind(
        self, strategy: str, intent_id: str, legs: Sequence[_LegRun], ts_ms: int
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
                await self._send_leg(
                    strategy, intent_id, f"{leg.planned.leg}u", reverse.planned, 0, ts_ms, True
                )
            )
            ok = ok and reverse.complete
        return ok, sent

    async def _send_native_pair(
        self,
        strategy: str,
        intent_id: str,
        planned: Sequence[PlannedLeg],
        venue: PairOrderVenue,
        ts_ms: int,
    ) -> IntentOutcome:
        """Both legs as one atomic pair order (``venues.pairs``): sent once; refused → nothing
        filled; outcome unknown → looked up by the pair's id, never re-sent."""
        requests = [self._request(strategy, intent_id, str(p.leg), p, 0) for p in planned]
        for leg, request in zip(planned, requests, strict=True):
            self._journal.record_order_request(ts_ms, strategy, intent_id, str(leg.leg), 0, request)
        self.orders_sent += len(requests)
        pair_client_id = client_order_id(strategy, intent_id, "pair", 0)
        try:
            async with asyncio.timeout(self._cfg.leg_timeout_s):
                pair = await venue.place_pair(pair_client_id, requests, strategy)
        except OrderRejected as err:
            for request in requests:
                self._rejected(strategy, request, err, ts_ms)
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
                async with asyncio.timeout(self._cfg.leg_timeout_s):
                    pair = await venue.fetch_pair(pair_client_id)
            except OrderNotFound:
                return IntentOutcome(intent_id, "rejected", len(requests), "pair_not_executed")
            except (VenueError, TimeoutError):
                for leg, request in zip(planned, requests, strict=True):
                    self._keep_unresolved(
                        strategy, intent_id, str(leg.leg), request, None, ts_ms, pair_client_id
                    )
                return IntentOutcome(intent_id, "partial", len(requests), "pair_outcome_unknown")
        by_id = {r.client_order_id: r for r in requests}
        for ack in pair.legs:
            self.book(strategy, by_id[ack.client_order_id], ack, ts_ms)
        log.info("native_pair_filled", strategy=strategy, intent_id=intent_id, pair_id=pair.pair_id)
        return IntentOutcome(intent_id, "filled", len(requests), "native_pair")

    def _request(
        self,
        strategy: str,
        intent_id: str,
        leg: str,
        planned: PlannedLeg,
        attempt: int,
        reduce_only: bool = False,
    ) -> OrderRequest:
        return OrderRequest(
            client_order_id=client_order_id(strategy, intent_id, leg, attempt),
            instrument_id=planned.instrument.id,
            side=Side.BUY if planned.delta_qty > 0 else Side.SELL,
            qty=abs(planned.delta_qty),
            reduce_only=reduce_only,
            reference_price=_dec(planned.price),
        )

    async def _send_leg(
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
        request = self._request(strategy, intent_id, leg, planned, attempt, reduce_only)
        self._journal.record_order_request(ts_ms, strategy, intent_id, leg, attempt, request)
        self.orders_sent += 1
        venue = self._venues[planned.instrument.id.venue]
        try:
            async with asyncio.timeout(self._cfg.leg_timeout_s):
                ack = await venue.place_order(request)
        except OrderRejected as err:
            self._rejected(strategy, request, err, ts_ms)
            return err
        except (VenueError, TimeoutError) as err:
            resolved = await self._lookup(venue, request, err)
            if isinstance(resolved, VenueError):
                if not isinstance(resolved, OrderNotFound):  # may still have filled
                    self._keep_unresolved(strategy, intent_id, leg, request, None, ts_ms)
                return resolved
            ack = resolved
        self.book(strategy, request, ack, ts_ms)
        if not ack.status.is_final:  # still working after an IOC should have ended
            self._keep_unresolved(strategy, intent_id, leg, request, ack, ts_ms)
        return ack

    def _keep_unresolved(
        self,
        strategy: str,
        intent_id: str,
        leg: str,
        request: OrderRequest,
        ack: OrderAck | None,
        ts_ms: int,
        pair_client_id: str | None = None,
    ) -> None:
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

    # ---- following up unresolved orders (agent.unresolved) -------------------------------

    async def follow_up(
        self, ts_ms: int, prices: Mapping[InstrumentId, float] | None = None
    ) -> None:
        """Look up every unresolved order again, book what it filled and reverse it
        reduce-only; see :func:`agent.unresolved.follow_up`."""
        await follow_up(self, ts_ms, prices)

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
        return await self._send_leg(
            order.strategy,
            order.intent_id,
            f"{order.leg}f",
            planned,
            order.reverse_attempt,
            ts_ms,
            reduce_only=True,
        )

    def _rejected(
        self, strategy: str, request: OrderRequest, err: OrderRejected, ts_ms: int
    ) -> None:
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


def _dec(value: float) -> Decimal:
    """Exact shortest decimal of a float (``np.float64`` included, whose repr is not a
    number under NumPy 2)."""
    return Decimal(repr(float(value)))


def _shrinks(held_qty: Decimal, delta_qty: Decimal) -> bool:
    """True when an order of ``delta_qty`` only moves ``held_qty`` toward flat (base units)."""
    return held_qty * delta_qty < 0 and abs(delta_qty) <= abs(held_qty)
