"""What an intent turns into before anything is sent: planned legs and their orders.

:class:`IntentPlanner` diffs every leg's target against the strategy's position in the ledger
and keeps the legs that drift more than ``drift_frac`` of their target notional (a leg going
flat always trades), rounds each order toward zero to the lot step and drops what falls below
the venue's minimum quantity or notional (steps 1–2 of :mod:`agent.execution.executor`).
:func:`order_request` turns a planned leg into the order sent for one attempt, named by the
deterministic :func:`client_order_id`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import structlog

from agent.portfolio.ledger import Portfolio
from strategies.base import PairIntent, TargetPosition
from venues.model import Instrument, InstrumentId, OrderRequest, OrderType, Side, TimeInForce

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


class IntentPlanner:
    """Plans the orders of an intent against one strategy's positions in ``portfolio``.

    Strategies restate the targets of what they hold every cycle: almost always nothing needs
    trading, and while a halt refuses every opening intent the same orders are planned hour
    after hour. The planner remembers, per strategy and instruments (in leg order), its last
    plan: the targets, drift threshold and positions it saw and, for every leg off target,
    its order as far as prices do not enter it (:data:`_OffLeg`). An intent with the same
    targets and threshold while those positions are the same plans from that memory: each
    such leg's price checked and its order's notional measured at it, without the drift
    check and the rounding (:meth:`plan`). A changed position, target or threshold, or an
    instrument no longer loaded (or, for a plan with a leg off target, a position or
    instrument replaced by another object, even an equal one: the order's digits follow the
    position's), plans in full.

    Parameters
    ----------
    instruments : Mapping[InstrumentId, Instrument]
    portfolio : Portfolio
    drift_frac : float
        Fraction of target notional a leg may drift before it trades.
    """

    def __init__(
        self,
        instruments: Mapping[InstrumentId, Instrument],
        portfolio: Portfolio,
        drift_frac: float,
    ) -> None:
        self._instruments = instruments
        self._portfolio = portfolio
        self._drift = _dec(drift_frac)
        self._drift_frac = float(drift_frac)
        self._kept: dict[tuple[str, tuple[InstrumentId, ...]], _KeptPlan] = {}
        """Per (strategy, instruments in leg order), the last plan made in full."""

    def plan(
        self, strategy: str, intent: PairIntent, prices: Mapping[InstrumentId, float]
    ) -> list[PlannedLeg]:
        """Orders needed for ``intent`` after the drift threshold, rounding and minimums.

        A leg trades when it is off target by more than ``drift_frac`` × |target| (the
        intent's own ``PairIntent.drift_frac`` when it carries one, else the planner's; a zero
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
        # Each leg's own position (not the strategy's whole book: the drift check plans every
        # standing pair at every mark tick).
        position_qty = self._portfolio.position_qty
        legs = intent.legs
        ids = tuple([leg.instrument_id for leg in legs])
        positions = tuple([position_qty(strategy, iid) for iid in ids])
        seen = (tuple([leg.target_qty for leg in legs]), intent.drift_frac, positions)
        key = (strategy, ids)
        kept = self._kept.get(key)
        if kept is not None and kept[0] == seen and self._still_holds(kept[1], ids, positions):
            off_legs = kept[1]  # sized when it was kept
            if not off_legs:
                return []  # every leg within drift at these very positions: nothing to do
        else:
            unpriced, off_legs = self._off_legs(strategy, intent, positions, prices)
            if unpriced:
                return []  # a leg that must trade has no price: neither leg
            if len(self._kept) >= _KEPT_MAX:
                self._kept.clear()  # bounded: a long live run names many sets
            self._kept[key] = (seen, off_legs)
        planned: list[PlannedLeg] = []
        for leg, instrument, _, delta_qty, notional_qty in off_legs:
            price = _usable_price(strategy, intent, ids[leg], prices)
            if price is None:
                return []  # a leg that must trade has no price: neither leg
            if delta_qty and (
                notional_qty is None or not notional_qty * _dec(price) < instrument.min_notional_usd
            ):
                planned.append(PlannedLeg(leg, instrument, delta_qty, price))
        return planned

    def _still_holds(
        self,
        off_legs: tuple[_OffLeg, ...],
        ids: tuple[InstrumentId, ...],
        positions: tuple[Decimal, ...],
    ) -> bool:
        """Whether a kept plan whose targets, threshold and positions equal the intent's
        still answers it at ``positions``: every instrument loaded and, for a leg off target,
        the very position and instrument objects it was sized with (an equal position of other
        digits, ``1.0`` and ``1.00``, can round to an order of other digits)."""
        instruments = self._instruments
        if not all(map(instruments.__contains__, ids)):
            return False
        return not off_legs or all(
            (positions[leg] or _ZERO) is current and instruments[ids[leg]] is instrument
            for leg, instrument, current, _, _ in off_legs
        )

    def _off_legs(
        self,
        strategy: str,
        intent: PairIntent,
        positions: tuple[Decimal, ...],
        prices: Mapping[InstrumentId, float],
    ) -> tuple[bool, tuple[_OffLeg, ...]]:
        """The legs of ``intent`` off target at ``positions`` (base units, in leg order),
        sized, in leg order; first True (and the legs so far) on reaching one without a
        usable price (:func:`_usable_price`, which logs it): each leg is priced before it is
        sized, and before the next leg is looked at.

        Raises
        ------
        ValueError
            On reaching a leg whose instrument is not loaded or whose target is not finite.
        """
        drift, drift_frac = self._drift_of(intent)
        instruments = self._instruments
        off_legs: list[_OffLeg] = []
        for index, leg in enumerate(intent.legs):
            iid, target_qty = leg.instrument_id, leg.target_qty
            instrument = instruments.get(iid)
            if instrument is None or not math.isfinite(target_qty):
                instrument = self._checked_leg(intent, leg)  # raises, naming what is wrong
            current = positions[index] or _ZERO
            # Most legs are well within drift: told apart in floats, without the Decimals.
            if target_qty != 0 and _surely_within(float(current), target_qty, drift_frac):
                continue
            # A zero target only closes (0 and -0.0 alike): its Decimal is never needed.
            target = _ZERO if target_qty == 0 else _dec(target_qty)
            if not _off_target(current, target, drift):
                continue
            if _usable_price(strategy, intent, iid, prices) is None:
                return True, tuple(off_legs)
            off_legs.append(_sized(index, instrument, current, target))
        return False, tuple(off_legs)

    def _drift_of(self, intent: PairIntent) -> tuple[Decimal, float]:
        """The drift threshold of ``intent`` (its own, else the planner's), as the exact Decimal
        and as the float it came from (fraction of target)."""
        if intent.drift_frac is None:
            return self._drift, self._drift_frac
        return _dec(intent.drift_frac), float(intent.drift_frac)

    def _checked_leg(self, intent: PairIntent, leg: TargetPosition) -> Instrument:
        """The leg's instrument; ValueError naming a leg whose instrument is not loaded or
        whose target is not finite."""
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
        return instrument


_ZERO = Decimal(0)
"""Zero (exponent 0), what ``Decimal(0)`` makes: a flat position, a zero target, no order."""


_Seen = tuple[tuple[float, ...], float | None, tuple[Decimal, ...]]
"""What a plan saw: its legs' targets, the intent's own ``drift_frac`` (None = the
planner's) and the positions (base units), in leg order."""

_OffLeg = tuple[int, Instrument, Decimal, Decimal, Decimal | None]
"""A leg off target and its order as far as prices do not enter it (:func:`_sized`): leg
index within the intent; instrument; the strategy's position it was sized at (base units,
:data:`_ZERO` when flat); signed order qty on the lot step (base units; 0: no order); the
order's qty whose notional at the price must reach the minimum (None: no check)."""

_KeptPlan = tuple[_Seen, tuple[_OffLeg, ...]]
"""A plan made in full: what it saw (:data:`_Seen`) and its legs off target, sized, in leg
order."""


def _sized(leg: int, instrument: Instrument, current: Decimal, target: Decimal) -> _OffLeg:
    """A leg off target with its order: the signed qty on the lot step (0 below the minimum
    qty; a close goes whole) and the qty whose notional at the price must reach the minimum
    (None: a close, or no order)."""
    if target == 0:
        return (leg, instrument, current, -current, None)
    delta = target - current
    step = instrument.lot_step
    rounded = (abs(delta) / step).to_integral_value(rounding=ROUND_DOWN) * step
    if rounded < instrument.min_qty:
        return (leg, instrument, current, _ZERO, None)
    # The notional (a Decimal of the price) only for an order above the minimum qty.
    return (leg, instrument, current, rounded if delta > 0 else -rounded, rounded)


def _usable_price(
    strategy: str, intent: PairIntent, iid: InstrumentId, prices: Mapping[InstrumentId, float]
) -> float | None:
    """The price of a leg that must trade (quote units), or None, logged, when it has no
    finite positive price (the whole intent is then skipped)."""
    price = prices.get(iid)
    if price is None or not math.isfinite(price) or price <= 0:
        log.warning(
            "intent_skipped_no_price",
            strategy=strategy,
            intent_id=intent.intent_id,
            instrument=str(iid),
            price=price,
        )
        return None
    return float(price)


_KEPT_MAX = 4096
"""Most (strategy, instruments) plans remembered (then all forgotten)."""


def _off_target(current: Decimal, target: Decimal, drift: Decimal) -> bool:
    """Whether a leg drifted by more than ``drift`` (fraction) of its target (or must close)."""
    if target == 0:
        return current != 0
    return abs(target - current) > drift * abs(target)


_FLOAT_MARGIN = 1e-12
"""Relative margin of :func:`_surely_within`, far above the rounding of its float arithmetic
(a few units of 2**-53 of the magnitudes involved)."""

_FLOAT_FLOOR = 1e-300
"""Absolute margin of :func:`_surely_within`: covers the rounding of subnormal floats, which
is absolute (up to 2**-1074), not relative."""


def _surely_within(current: float, target: float, drift: float) -> bool:
    """True only when :func:`_off_target` is False on the exact values: the leg is within drift
    by more than float rounding could account for (False: not sure, decide in Decimals).

    ``current`` is the position's float (``float(Decimal)``, correctly rounded), ``target`` the
    leg's non-zero finite target and ``drift`` the threshold's float (both as floats: their
    Decimals, the shortest repr, are within half an ulp of them). Each side of
    ``|target - current| <= drift × |target|`` is then within a few ulps of ``|target| +
    |current|`` of its exact value; the margins are far wider. An infinite or NaN
    intermediate (a position beyond float range) makes the comparison False."""
    scale = abs(target) + abs(current)
    gap = abs(target - current) + _FLOAT_MARGIN * scale + _FLOAT_FLOOR
    return gap < drift * abs(target) * (1.0 - _FLOAT_MARGIN)


def order_request(
    strategy: str,
    intent_id: str,
    leg: str,
    planned: PlannedLeg,
    attempt: int,
    reduce_only: bool = False,
    post_only_price: Decimal | None = None,
) -> OrderRequest:
    """The market order for ``attempt`` of ``planned`` (leg ``leg`` of ``intent_id``), or,
    with ``post_only_price`` (quote units, on the tick), a post-only limit order there."""
    side = Side.BUY if planned.delta_qty > 0 else Side.SELL
    cid = client_order_id(strategy, intent_id, leg, attempt)
    if post_only_price is not None:
        return OrderRequest(
            client_order_id=cid,
            instrument_id=planned.instrument.id,
            side=side,
            qty=abs(planned.delta_qty),
            order_type=OrderType.LIMIT,
            limit_price=post_only_price,
            time_in_force=TimeInForce.POST_ONLY,
            reduce_only=reduce_only,
            reference_price=_dec(planned.price),
        )
    return OrderRequest(
        client_order_id=cid,
        instrument_id=planned.instrument.id,
        side=side,
        qty=abs(planned.delta_qty),
        reduce_only=reduce_only,
        reference_price=_dec(planned.price),
    )


def _dec(value: float) -> Decimal:
    """Exact shortest decimal of a float (``np.float64`` included, whose repr is not a
    number under NumPy 2)."""
    return Decimal(repr(float(value)))


def shrinks_position(held_qty: Decimal, delta_qty: Decimal) -> bool:
    """True when an order of ``delta_qty`` only moves ``held_qty`` toward flat (base units)."""
    return held_qty * delta_qty < 0 and abs(delta_qty) <= abs(held_qty)


def reducing(leg: str, request: OrderRequest) -> bool:
    """Whether the order is meant to reduce a position: sent reduce-only, or an unwind
    (leg ``<i>u``, budget ``<i>bu``) or reverse (``<leg>f``) sent without the flag (the venue's
    net position could not honour it)."""
    return request.reduce_only or leg.endswith(("u", "f"))
