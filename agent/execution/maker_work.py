"""A working maker-first intent (:mod:`agent.execution.maker`) and its resume-checkpoint form.

:class:`WorkingIntent` is what the maker desk keeps per intent between its passes: the intent,
the prices it was decided at, its plan, deadline and closing flag, and per leg
(:class:`MakerLeg`) the planned order, what filled, the next attempt number and the post-only
order resting now. :meth:`WorkingIntent.to_json` / :meth:`WorkingIntent.from_json` write and
read it in the checkpoint (``maker_working``, :mod:`agent.engine.resume`), JSON with decimals
as strings; :func:`settle_leg_with_journal` then brings a restored leg up to what the journal
holds (a live run re-quotes between its hourly checkpoints, so the order resting at the kill
may be a later attempt than the checkpoint's).

Layout of one working intent::

    {"strategy": str, "started_ms": int, "deadline_ms": int, "sequential": bool,
     "pair": bool, "closing": bool, "sent": int,
     "intent": {"intent_id": str, "reason": str, "opening": bool,
                "drift_frac": float | null, "legs": [[instrument, target_qty], ...]},
     "prices": {instrument: float},
     "plan": [planned, ...], "makers": [leg, ...], "hedges": [leg, ...]}
    planned = {"leg": int, "instrument": str, "delta_qty": str, "price": float}
    leg = {"planned": planned, "filled_qty": str, "label": str, "attempt": int,
           "failed": bool, "resting": null | {"client_order_id": str, "side": str,
           "qty": str, "limit_price": str, "reduce_only": bool,
           "reference_price": str | null, "placed_ms": int}, "resting_filled": str}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from agent.execution.pairs import LegRun
from agent.execution.plan import PlannedLeg, client_order_id
from agent.execution.unresolved import LegResult
from agent.journal.journal import OpenOrderRow, OrderRecord
from strategies.base import PairIntent, TargetPosition
from venues.errors import VenueError
from venues.model import Instrument, InstrumentId, OrderRequest, OrderType, Side, TimeInForce

__all__ = [
    "MakerLeg",
    "OrderRecords",
    "WorkingIntent",
    "settle_leg_with_journal",
]

MAX_ATTEMPTS_SCANNED = 10_000
"""Attempts of one leg looked up in the journal at most (a leg re-quoted every mark tick for a
week has ~10,000)."""


@dataclass(slots=True)
class MakerLeg:
    """One leg of a working intent: its run (planned signed qty, filled), the label its
    orders carry, the next attempt number, the resting order (client id and price), when it
    was placed (epoch ms) and what that order filled so far (base units, unsigned)."""

    run: LegRun
    label: str
    attempt: int = 0
    resting: OrderRequest | None = None
    resting_filled: Decimal = Decimal(0)
    resting_placed_ms: int = 0
    failed: bool = False
    last_result: LegResult | None = None

    def to_json(self) -> dict[str, Any]:
        """Checkpoint form (the module docstring's ``leg``)."""
        resting = self.resting
        return {
            "planned": _planned_json(self.run.planned),
            "filled_qty": str(self.run.filled_qty),
            "label": self.label,
            "attempt": self.attempt,
            "failed": self.failed,
            "resting": None if resting is None else _resting_json(resting, self.resting_placed_ms),
            "resting_filled": str(self.resting_filled),
        }

    @classmethod
    def from_json(
        cls, raw: Mapping[str, Any], instruments: Mapping[InstrumentId, Instrument]
    ) -> MakerLeg:
        """Inverse of :meth:`to_json`.

        Raises
        ------
        KeyError, ValueError, TypeError
            Not what :meth:`to_json` wrote, or an instrument the run does not trade.
        """
        planned = _planned(raw["planned"], instruments)
        run = LegRun(planned, Decimal(raw["filled_qty"]))
        leg = cls(run, str(raw["label"]), int(raw["attempt"]), failed=bool(raw["failed"]))
        resting = raw["resting"]
        if resting is not None:
            leg.resting = _resting_request(resting, planned.instrument.id)
            leg.resting_placed_ms = int(resting["placed_ms"])
            leg.resting_filled = Decimal(raw["resting_filled"])
        return leg


@dataclass(slots=True)
class WorkingIntent:
    """A maker-first intent whose orders still work (see :mod:`agent.execution.maker`)."""

    strategy: str
    intent: PairIntent
    prices: Mapping[InstrumentId, float]
    plan: list[PlannedLeg]  # sequential: [first, *others]; else the plan's order
    sequential: bool
    pair: bool
    deadline_ms: int
    makers: list[MakerLeg]
    hedges: list[MakerLeg] = field(default_factory=list)
    sent: int = 0
    closing: bool = False
    started_ms: int = 0

    @property
    def instruments(self) -> set[InstrumentId]:
        """The instruments its legs trade."""
        return {p.instrument.id for p in self.plan}

    def to_json(self) -> dict[str, Any]:
        """Checkpoint form (the module docstring's layout)."""
        intent = self.intent
        return {
            "strategy": self.strategy,
            "started_ms": self.started_ms,
            "deadline_ms": self.deadline_ms,
            "sequential": self.sequential,
            "pair": self.pair,
            "closing": self.closing,
            "sent": self.sent,
            "intent": {
                "intent_id": intent.intent_id,
                "reason": intent.reason,
                "opening": intent.opening,
                "drift_frac": intent.drift_frac,
                "legs": [[str(leg.instrument_id), leg.target_qty] for leg in intent.legs],
            },
            "prices": {str(i): p for i, p in self.prices.items()},
            "plan": [_planned_json(p) for p in self.plan],
            "makers": [leg.to_json() for leg in self.makers],
            "hedges": [leg.to_json() for leg in self.hedges],
        }

    @classmethod
    def from_json(
        cls, raw: Mapping[str, Any], instruments: Mapping[InstrumentId, Instrument]
    ) -> WorkingIntent:
        """Inverse of :meth:`to_json`.

        Raises
        ------
        KeyError, ValueError, TypeError
            Not what :meth:`to_json` wrote, or an instrument the run does not trade.
        """
        item = raw["intent"]
        drift = item["drift_frac"]
        intent = PairIntent(
            str(item["intent_id"]),
            tuple(TargetPosition(InstrumentId.parse(str(i)), float(q)) for i, q in item["legs"]),
            str(item["reason"]),
            bool(item["opening"]),
            None if drift is None else float(drift),
        )
        return cls(
            strategy=str(raw["strategy"]),
            intent=intent,
            prices={InstrumentId.parse(str(i)): float(p) for i, p in raw["prices"].items()},
            plan=[_planned(p, instruments) for p in raw["plan"]],
            sequential=bool(raw["sequential"]),
            pair=bool(raw["pair"]),
            deadline_ms=int(raw["deadline_ms"]),
            makers=[MakerLeg.from_json(leg, instruments) for leg in raw["makers"]],
            hedges=[MakerLeg.from_json(leg, instruments) for leg in raw["hedges"]],
            sent=int(raw["sent"]),
            closing=bool(raw["closing"]),
            started_ms=int(raw["started_ms"]),
        )


class OrderRecords(Protocol):
    """What :func:`settle_leg_with_journal` reads from the journal."""

    def order_record(self, client_order_id: str) -> OrderRecord | None: ...


def settle_leg_with_journal(
    work: WorkingIntent,
    leg: MakerLeg,
    journal: OrderRecords,
    open_orders: Mapping[str, OpenOrderRow],
) -> None:
    """Bring a restored leg up to the journal (a live run sends orders between its hourly
    checkpoints, each journaled at once): its filled qty is the sum of the fills of every
    journaled attempt under its label, its next attempt the first the journal has no order for,
    and its resting order the latest attempt when that is a post-only (limit) order the
    journal holds without a final state (``open_orders``:
    :meth:`~agent.journal.journal.Journal.orders_without_outcome` by client order id). None
    when the latest order is final (the next pass re-quotes the rest); a taker order still
    unanswered (sent at the deadline) is left to the unresolved-order follow-up and the leg
    counted failed, so the intent ends at its next pass."""
    filled = Decimal(0)
    latest: str | None = None
    attempt = 0
    while attempt < MAX_ATTEMPTS_SCANNED:
        cid = client_order_id(work.strategy, work.intent.intent_id, leg.label, attempt)
        record = journal.order_record(cid)
        if record is None:
            break
        filled += record.filled_qty
        latest = cid
        attempt += 1
    previous = leg.resting
    leg.run.filled_qty = filled
    leg.attempt = max(leg.attempt, attempt)
    leg.resting = None
    leg.resting_filled = Decimal(0)
    row = None if latest is None else open_orders.get(latest)
    if row is None:
        return
    if row.order_type != OrderType.LIMIT.value:
        leg.failed = True  # and its outcome unknown: no taker is sent again for its rest
        leg.last_result = VenueError(
            f"order {row.client_order_id} unanswered before the restart",
            venue=row.instrument_id.venue,
        )
        return
    same = previous is not None and previous.client_order_id == row.client_order_id
    reference = previous.reference_price if previous is not None and same else None
    leg.resting = OrderRequest(
        client_order_id=row.client_order_id,
        instrument_id=row.instrument_id,
        side=row.side,
        qty=row.qty,
        order_type=OrderType.LIMIT,
        limit_price=row.limit_price,
        time_in_force=TimeInForce.POST_ONLY,
        reduce_only=row.reduce_only,
        reference_price=reference,
    )
    leg.resting_filled = abs(row.booked_qty)
    leg.resting_placed_ms = leg.resting_placed_ms if same else row.ts_ms


def _planned_json(planned: PlannedLeg) -> dict[str, Any]:
    return {
        "leg": planned.leg,
        "instrument": str(planned.instrument.id),
        "delta_qty": str(planned.delta_qty),
        "price": planned.price,
    }


def _planned(raw: Mapping[str, Any], instruments: Mapping[InstrumentId, Instrument]) -> PlannedLeg:
    iid = InstrumentId.parse(str(raw["instrument"]))
    instrument = instruments.get(iid)
    if instrument is None:
        raise ValueError(f"a working maker-first order's instrument {iid} is not traded by the run")
    return PlannedLeg(int(raw["leg"]), instrument, Decimal(raw["delta_qty"]), float(raw["price"]))


def _resting_json(request: OrderRequest, placed_ms: int) -> dict[str, Any]:
    return {
        "client_order_id": request.client_order_id,
        "side": request.side.value,
        "qty": str(request.qty),
        "limit_price": str(request.limit_price),
        "reduce_only": request.reduce_only,
        "reference_price": (
            None if request.reference_price is None else str(request.reference_price)
        ),
        "placed_ms": placed_ms,
    }


def _resting_request(raw: Mapping[str, Any], instrument_id: InstrumentId) -> OrderRequest:
    reference = raw["reference_price"]
    return OrderRequest(
        client_order_id=str(raw["client_order_id"]),
        instrument_id=instrument_id,
        side=Side(raw["side"]),
        qty=Decimal(raw["qty"]),
        order_type=OrderType.LIMIT,
        limit_price=Decimal(raw["limit_price"]),
        time_in_force=TimeInForce.POST_ONLY,
        reduce_only=bool(raw["reduce_only"]),
        reference_price=None if reference is None else Decimal(reference),
    )
