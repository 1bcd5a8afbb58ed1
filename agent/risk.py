"""Pre-trade risk checks and drawdown circuit breakers.

Every intent passes :meth:`RiskEngine.check` before any of its orders is sent. A rule refuses
only when the intent *increases* the measured exposure beyond its limit, so orders that reduce
risk (exits, unwinds) always pass. Limits (SEEDS.md "Risk management"):

- ``max_order_notional_usd``: notional of any single order;
- ``max_position_frac``: |net notional| of one instrument / equity;
- ``max_leverage``: gross notional / equity;
- ``max_venue_frac``: capital committed on one venue (spot holdings + perp notional / the
  venue's perp leverage) / equity — counterparty exposure;
- drawdown breakers: daily (from the UTC-day's opening equity) and total (from the equity
  high-water mark). A tripped breaker blocks opening intents; config decides whether the
  agent also flattens;
- refusals the engine's safety guard sets and lifts (:meth:`RiskEngine.refuse_opening_on`):
  ``venue_unhealthy`` (an opening intent with a leg on a venue that stopped answering) and
  ``liquidation_distance_low`` (an opening intent growing a position whose leg is near its
  liquidation price).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent.config import RiskConfig
from agent.errors import RiskRejected
from venues.model import InstrumentId, InstrumentKind

DAY_MS = 86_400_000
MANUAL_HALT = "position_mismatch"
"""Rule name of :meth:`RiskEngine.halt`: a live position differs from the ledger."""
KILL_SWITCH = "kill_switch"
"""Rule name of an operator's ``zerobeta halt`` (:meth:`RiskEngine.halt` with this rule)."""
_HALT_RULES = (KILL_SWITCH, MANUAL_HALT)
VENUE_UNHEALTHY = "venue_unhealthy"
"""Rule of an opening intent refused for a leg on an unhealthy venue (target: the venue)."""
LIQUIDATION_DISTANCE_LOW = "liquidation_distance_low"
"""Rule of an opening intent refused for growing a position near its liquidation price
(target: the instrument id)."""


@dataclass(frozen=True, slots=True)
class LegDelta:
    """One order of an intent as risk sees it: signed qty change (base units) at ``price_usd``."""

    instrument_id: InstrumentId
    delta_qty: Decimal
    price_usd: float


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """A circuit breaker tripped (``rule``) at ``ts_ms`` with drawdown ``value`` ≥ ``limit``."""

    rule: str
    limit: float
    value: float
    ts_ms: int


class RiskEngine:
    """Stateful pre-trade checker.

    Parameters
    ----------
    config : RiskConfig
        Limits (fractions of equity, USD).
    perp_leverage : Mapping[str, float]
        Perp leverage per venue, used for the committed-capital measure.
    initial_equity_usd : float
        Starting equity; the first high-water mark and day-open equity.
    """

    def __init__(
        self, config: RiskConfig, perp_leverage: Mapping[str, float], initial_equity_usd: float
    ) -> None:
        self._cfg = config
        self._perp_leverage = dict(perp_leverage)
        self._peak_equity_usd = initial_equity_usd
        self._day_open_equity_usd = initial_equity_usd
        self._day_index: int | None = None
        self._tripped: dict[str, BreakerEvent] = {}
        self._refused: dict[str, dict[str, tuple[float, float]]] = {
            VENUE_UNHEALTHY: {},
            LIQUIDATION_DISTANCE_LOW: {},
        }
        self.daily_halted = False
        self.total_halted = False

    @property
    def halted(self) -> bool:
        """True while a breaker (or a manual halt, :meth:`halt`) blocks opening intents."""
        return (
            self.daily_halted
            or self.total_halted
            or any(rule in self._tripped for rule in _HALT_RULES)
        )

    def halt(self, ts_ms: int, value: float = 0.0, rule: str = MANUAL_HALT) -> None:
        """Block opening intents until :meth:`resume_opening` of the same ``rule``: a live
        position that differs from the ledger (:data:`MANUAL_HALT`: a person must look before
        zerobeta adds risk) or an operator's kill switch (:data:`KILL_SWITCH`). Closing stays
        allowed."""
        self._tripped.setdefault(rule, BreakerEvent(rule, 0.0, value, ts_ms))

    def is_halted_by(self, rule: str) -> bool:
        """True while :meth:`halt` of ``rule`` is in force."""
        return rule in self._tripped

    def refuse_opening_on(self, rule: str, target: str, limit: float, value: float) -> None:
        """Refuse opening intents with a leg on ``target`` until :meth:`allow_opening_on`:
        a venue name for :data:`VENUE_UNHEALTHY`; an instrument id for
        :data:`LIQUIDATION_DISTANCE_LOW`, where only a leg that grows the net position
        refuses. ``limit`` and ``value`` are reported in the refusal (the rule's threshold and
        the measure now). Closing intents always pass.

        Raises
        ------
        ValueError
            If ``rule`` is neither of those.
        """
        if rule not in self._refused:
            raise ValueError(f"unknown refusal rule {rule!r}")
        self._refused[rule][target] = (limit, value)

    def allow_opening_on(self, rule: str, target: str) -> None:
        """Lift :meth:`refuse_opening_on` of ``rule`` on ``target`` (nothing if not set)."""
        self._refused.get(rule, {}).pop(target, None)

    def refused_targets(self, rule: str) -> dict[str, tuple[float, float]]:
        """The targets ``rule`` refuses now: target → (limit, value) (a copy)."""
        return dict(self._refused.get(rule, {}))

    def resume_opening(self, rule: str = MANUAL_HALT) -> None:
        """Lift a :meth:`halt` of ``rule`` (the drawdown breakers and the other halt are
        unaffected)."""
        self._tripped.pop(rule, None)

    def state(self) -> dict[str, Any]:
        """Everything :meth:`restore` needs to continue after a restart (JSON-able)."""
        return {
            "peak_equity_usd": self._peak_equity_usd,
            "day_open_equity_usd": self._day_open_equity_usd,
            "day_index": self._day_index,
            "tripped": {
                rule: [e.limit, e.value, e.ts_ms] for rule, e in sorted(self._tripped.items())
            },
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state` of an earlier run (high-water mark, day-open equity,
        tripped breakers stay tripped).

        Raises
        ------
        ValueError
            If ``state`` lacks a key or has a wrong type (a journal of another version).
        """
        try:
            peak = float(state["peak_equity_usd"])
            day_open = float(state["day_open_equity_usd"])
            day_index = state["day_index"]
            tripped = {
                str(rule): BreakerEvent(str(rule), float(v[0]), float(v[1]), int(v[2]))
                for rule, v in dict(state["tripped"]).items()
            }
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise ValueError(f"risk state cannot be restored: {err!r}") from err
        self._peak_equity_usd = peak
        self._day_open_equity_usd = day_open
        self._day_index = None if day_index is None else int(day_index)
        self._tripped = tripped
        self.daily_halted = "daily_drawdown" in tripped
        self.total_halted = "total_drawdown" in tripped

    def update_equity(self, ts_ms: int, equity_usd: float) -> list[BreakerEvent]:
        """Track day-open and peak equity; return the breakers that tripped now.

        Parameters
        ----------
        ts_ms : int
            Time of the equity mark, epoch ms UTC; a new UTC day (``ts_ms // 86_400_000``)
            resets the day-open equity and releases the daily breaker. The first call keeps
            ``initial_equity_usd`` as the day-open equity.
        equity_usd : float
            Portfolio equity, USD.

        Returns
        -------
        list[BreakerEvent]
            Daily then total breaker, each only on the update that trips it; ``value`` is the
            drawdown (fraction) that tripped it.
        """
        day = ts_ms // DAY_MS
        if self._day_index is None:
            self._day_index = day
        elif day != self._day_index:
            self._day_index = day
            self._day_open_equity_usd = equity_usd
            self.daily_halted = False
            self._tripped.pop("daily_drawdown", None)
        if equity_usd > self._peak_equity_usd:  # max(peak, equity), as ever
            self._peak_equity_usd = equity_usd
        events: list[BreakerEvent] = []
        cfg = self._cfg
        if not self.daily_halted:  # a halted breaker's drawdown is not needed
            daily_dd = _drawdown(equity_usd, self._day_open_equity_usd)
            if daily_dd >= cfg.daily_drawdown_frac:
                self.daily_halted = True
                events.append(
                    BreakerEvent("daily_drawdown", cfg.daily_drawdown_frac, daily_dd, ts_ms)
                )
        if not self.total_halted:
            total_dd = _drawdown(equity_usd, self._peak_equity_usd)
            if total_dd >= cfg.total_drawdown_frac:
                self.total_halted = True
                events.append(
                    BreakerEvent("total_drawdown", cfg.total_drawdown_frac, total_dd, ts_ms)
                )
        if events:
            self._tripped.update((e.rule, e) for e in events)
        return events

    def check(
        self,
        legs: Sequence[LegDelta],
        positions: Mapping[InstrumentId, Decimal],
        prices: Mapping[InstrumentId, float],
        equity_usd: float,
        opening: bool,
    ) -> RiskRejected | None:
        """Return the first rule the intent breaks, or None if it may be sent.

        Parameters
        ----------
        legs : Sequence[LegDelta]
            The intent's orders, signed base units at ``price_usd`` (USD).
        positions : Mapping[InstrumentId, Decimal]
            The agent's net positions (all strategies), signed base units.
        prices : Mapping[InstrumentId, float]
            Marks, quote units (USD); a leg's own price fills a missing mark.
        equity_usd : float
            Portfolio equity, USD (floored at 1e-9 so a wiped-out account rejects growth).
        opening : bool
            False for intents that only close the strategy's own positions: always allowed
            (breakers and exposure rules apply to opening intents only).

        Returns
        -------
        RiskRejected | None
            The first broken rule with its limit and the value the intent would produce (a
            breaker reports the drawdown that tripped it); None if the intent may be sent.
            Rules only refuse increases of their measure: an order that only reduces a
            position (opposite side, not beyond flat) never breaks ``max_order_notional_usd``.
        """
        if not opening:
            # A strategy closing its own positions is never refused: with several strategies
            # on one instrument, a close can raise the *net* exposure, and refusing it would
            # leave the strategy's leg orphaned (unhedged, owned by no open trade).
            return None
        blocked = self.opening_blocked()
        if blocked is not None:
            return blocked
        refused = self._refused_leg(legs, positions)
        if refused is not None:
            return refused
        for leg in legs:
            notional = abs(float(leg.delta_qty)) * leg.price_usd
            held = positions.get(leg.instrument_id, Decimal(0))
            if notional > self._cfg.max_order_notional_usd and not _reduces(held, leg.delta_qty):
                return RiskRejected(
                    "max_order_notional_usd",
                    self._cfg.max_order_notional_usd,
                    notional,
                    str(leg.instrument_id),
                )
        after = dict(positions)
        for leg in legs:
            after[leg.instrument_id] = after.get(leg.instrument_id, Decimal(0)) + leg.delta_qty
        marks = dict(prices)
        for leg in legs:
            marks.setdefault(leg.instrument_id, leg.price_usd)
        return self._exposure_rules(legs, positions, after, marks, max(equity_usd, 1e-9))

    def opening_blocked(self) -> RiskRejected | None:
        """The refusal every opening intent gets while :attr:`halted` (a tripped breaker or a
        :meth:`halt`; what :meth:`check` returns for one, whatever its legs), else None.

        The rule reported is ``total_drawdown`` if tripped, else ``daily_drawdown``, else the
        halt's; its limit and value are the breaker's at the trip (the drawdown that tripped
        it). The executor asks this first, so an intent refused by a halt is not measured
        against the exposure rules it would never reach."""
        if not self.halted:
            return None
        rule = (
            "total_drawdown"
            if self.total_halted
            else "daily_drawdown"
            if self.daily_halted
            else next(r for r in _HALT_RULES if r in self._tripped)
        )
        event = self._tripped[rule]
        return RiskRejected(
            event.rule, event.limit, event.value, "circuit breaker active; opening blocked"
        )

    def _refused_leg(
        self, legs: Sequence[LegDelta], positions: Mapping[InstrumentId, Decimal]
    ) -> RiskRejected | None:
        venues = self._refused[VENUE_UNHEALTHY]
        near = self._refused[LIQUIDATION_DISTANCE_LOW]
        for leg in legs:
            iid = leg.instrument_id
            if iid.venue in venues:
                limit, value = venues[iid.venue]
                return RiskRejected(VENUE_UNHEALTHY, limit, value, iid.venue)
            held = positions.get(iid, Decimal(0))
            if str(iid) in near and not _reduces(held, leg.delta_qty):
                limit, value = near[str(iid)]
                return RiskRejected(LIQUIDATION_DISTANCE_LOW, limit, value, str(iid))
        return None

    def _exposure_rules(
        self,
        legs: Sequence[LegDelta],
        before: Mapping[InstrumentId, Decimal],
        after: Mapping[InstrumentId, Decimal],
        marks: Mapping[InstrumentId, float],
        equity_usd: float,
    ) -> RiskRejected | None:
        for leg in legs:
            iid = leg.instrument_id
            pos_after = abs(float(after[iid])) * marks[iid] / equity_usd
            pos_before = abs(float(before.get(iid, Decimal(0)))) * marks[iid] / equity_usd
            if pos_after > self._cfg.max_position_frac and pos_after > pos_before:
                return RiskRejected(
                    "max_position_frac", self._cfg.max_position_frac, pos_after, str(iid)
                )
        lev_before = _gross(before, marks) / equity_usd
        lev_after = _gross(after, marks) / equity_usd
        if lev_after > self._cfg.max_leverage and lev_after > lev_before:
            return RiskRejected("max_leverage", self._cfg.max_leverage, lev_after)
        for venue in sorted({leg.instrument_id.venue for leg in legs}):
            share_before = self._committed(before, marks, venue) / equity_usd
            share_after = self._committed(after, marks, venue) / equity_usd
            if share_after > self._cfg.max_venue_frac and share_after > share_before:
                return RiskRejected("max_venue_frac", self._cfg.max_venue_frac, share_after, venue)
        return None

    def _committed(
        self,
        positions: Mapping[InstrumentId, Decimal],
        marks: Mapping[InstrumentId, float],
        venue: str,
    ) -> float:
        leverage = self._perp_leverage.get(venue, 1.0)
        total = 0.0
        for iid, qty in positions.items():
            if iid.venue != venue or not qty:
                continue
            notional = abs(float(qty)) * marks.get(iid, 0.0)
            total += notional / leverage if iid.kind is InstrumentKind.PERP else notional
        return total


def _gross(positions: Mapping[InstrumentId, Decimal], marks: Mapping[InstrumentId, float]) -> float:
    return sum(abs(float(q)) * marks.get(i, 0.0) for i, q in positions.items())


def _drawdown(equity_usd: float, reference_usd: float) -> float:
    """Loss from ``reference_usd`` as a fraction of it (0 when the reference is not positive)."""
    return 1.0 - equity_usd / reference_usd if reference_usd > 0 else 0.0


def _reduces(held_qty: Decimal, delta_qty: Decimal) -> bool:
    """True when an order of ``delta_qty`` only shrinks ``held_qty`` toward flat (base units)."""
    return held_qty * delta_qty < 0 and abs(delta_qty) <= abs(held_qty)
