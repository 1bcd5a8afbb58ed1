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

    Strategies restate the targets of what they hold every cycle, and almost always nothing
    needs trading. The planner remembers, per strategy and instruments (in leg order), the
    last plan in which no leg was off target: its targets, drift threshold and the positions
    it saw. An intent with the same targets and threshold while those positions are the same
    plans to nothing again, whatever the prices (they only size legs that are off target), so
    it is answered without the Decimal arithmetic (:meth:`plan`). A changed position, target
    or threshold, or an instrument no longer loaded, plans in full.

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
        self._within_drift: dict[tuple[str, tuple[InstrumentId, ...]], _WithinDrift] = {}
        """Per (strategy, instruments in leg order), the last plan with every leg within drift."""

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
        if self._within_drift.get((strategy, ids)) == seen and all(
            map(self._instruments.__contains__, ids)
        ):
            return []  # every leg within drift at these very positions: nothing to do
        drift, drift_frac = self._drift_of(intent)
        planned: list[PlannedLeg] = []
        within_drift = True
        instruments = self._instruments
        for index, leg in enumerate(legs):
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
            within_drift = False
            price = prices.get(iid)
            if price is None or not math.isfinite(price) or price <= 0:
                log.warning(
                    "intent_skipped_no_price",
                    strategy=strategy,
                    intent_id=intent.intent_id,
                    instrument=str(leg.instrument_id),
                    price=price,
                )
                return []
            price = float(price)
            delta = self._order_qty(instrument, current, target, price)
            if delta:
                planned.append(PlannedLeg(index, instrument, delta, price))
        if within_drift:
            if len(self._within_drift) >= _WITHIN_DRIFT_MAX:
                self._within_drift.clear()  # bounded: a long live run names many sets
            self._within_drift[(strategy, ids)] = seen
        return planned

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

    def _order_qty(
        self, instrument: Instrument, current: Decimal, target: Decimal, price: float
    ) -> Decimal:
        """Signed order qty on the lot step, or 0 when below the minimums (closes go whole)."""
        if target == 0:
            return -current
        delta = target - current
        step = instrument.lot_step
        rounded = (abs(delta) / step).to_integral_value(rounding=ROUND_DOWN) * step
        # The notional (a Decimal of the price) only for an order above the minimum qty.
        if rounded < instrument.min_qty or rounded * _dec(price) < instrument.min_notional_usd:
            return _ZERO
        return rounded if delta > 0 else -rounded


_ZERO = Decimal(0)
"""Zero (exponent 0), what ``Decimal(0)`` makes: a flat position, a zero target, no order."""

_WITHIN_DRIFT_MAX = 4096
"""Most (strategy, instruments) plans remembered as within drift (then all forgotten)."""

_WithinDrift = tuple[tuple[float, ...], float | None, tuple[Decimal, ...]]
"""A plan in which no leg was off target: its legs' targets, the intent's own ``drift_frac``
(None = the planner's) and the positions it saw (base units), in leg order."""


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
